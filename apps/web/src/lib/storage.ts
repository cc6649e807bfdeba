import { ROOM_PATTERN } from '@chat/protocol';

/**
 * What the browser remembers across reloads and tabs, in localStorage: the display name and
 * user id (so a new tab signs in as the same person without asking), and per user the rooms
 * joined and the one on screen (so a reload brings them back). Tokens are not here: they stay
 * per tab in sessionStorage (lib/token.ts).
 */
const PROFILE_KEY = 'chat.profile';
const ROOMS_KEY = 'chat.rooms.';
const ROOM = new RegExp(ROOM_PATTERN);
const MAX_ROOMS = 50;

export interface Profile {
  name: string;
  userId: string;
}

export interface SavedRooms {
  rooms: string[];
  active?: string;
}

/** localStorage, or nothing when the browser refuses it (private mode, disabled storage). */
function store(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}

function read(key: string): unknown {
  try {
    const raw = store()?.getItem(key);
    return raw ? (JSON.parse(raw) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

function write(key: string, value: unknown): void {
  try {
    if (value === undefined) store()?.removeItem(key);
    else store()?.setItem(key, JSON.stringify(value));
  } catch {
    // Full or disabled storage: the app works, it just forgets on reload.
  }
}

export function loadProfile(): Profile | undefined {
  const value = read(PROFILE_KEY);
  if (typeof value !== 'object' || value === null) return undefined;
  const { name, userId } = value as Record<string, unknown>;
  return typeof name === 'string' && name && typeof userId === 'string' && userId
    ? { name, userId }
    : undefined;
}

export function saveProfile(profile: Profile | undefined): void {
  write(PROFILE_KEY, profile);
}

/** The rooms this user had joined, in order, valid names only; undefined if never saved. */
export function loadRooms(userId: string): SavedRooms | undefined {
  const value = read(ROOMS_KEY + userId);
  if (typeof value !== 'object' || value === null) return undefined;
  const { rooms, active } = value as Record<string, unknown>;
  if (!Array.isArray(rooms)) return undefined;
  const valid = [...new Set(rooms.filter((r): r is string => typeof r === 'string' && ROOM.test(r)))];
  const list = valid.slice(0, MAX_ROOMS);
  return typeof active === 'string' && list.includes(active) ? { rooms: list, active } : { rooms: list };
}

export function saveRooms(userId: string, saved: SavedRooms | undefined): void {
  write(ROOMS_KEY + userId, saved);
}
