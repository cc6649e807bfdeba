import { ROOM_PATTERN } from '@chat/protocol';

export const DEFAULT_ROOM = 'general';

const ROOM = new RegExp(ROOM_PATTERN);

/** "#General " → "general". Room names are lower-case on the wire. */
export function normalizeRoom(input: string): string {
  return input.trim().replace(/^#+/, '').trim().toLowerCase();
}

export function roomError(name: string): string | undefined {
  if (name === '') return 'Enter a room name.';
  if (!ROOM.test(name)) return 'Use up to 48 letters, digits, "-" or "_", starting with a letter or digit.';
  return undefined;
}
