import { normalizeRoomName } from '@chat/protocol';

export const DEFAULT_ROOM = 'general';

/**
 * "#General " → "general", "ｇｅｎｅｒａｌ" → "general": the room-name rule of @chat/protocol
 * (NFKC, lower case), which the server's frame schemas enforce.
 */
export function normalizeRoom(input: string): string {
  const checked = normalizeRoomName(input);
  return checked.ok ? checked.value : input.normalize('NFKC').trim().replace(/^#+/, '').trim().toLowerCase();
}

export function roomError(name: string): string | undefined {
  if (name === '') return 'Enter a room name.';
  const checked = normalizeRoomName(name);
  if (!checked.ok) return 'Use up to 48 letters, digits, "-" or "_", starting with a letter or digit.';
  return undefined;
}
