import type { PresenceEntry } from '@chat/protocol';
import type { PresenceDelta, StoredMessage } from './types.js';

/**
 * Decoding of what Redis returns and of what other pods publish. Shapes (arrays, fields,
 * presence entries, published envelopes) are checked before use: another version of the app,
 * or anyone with access to Redis, may have written them. Message bodies are not parsed here:
 * they are passed on as stored (encodeStoredBody wrote them) and spliced into frames, and
 * every client validates every frame it receives, so a foreign body reaches clients as a
 * frame they refuse, never as something the server acts on.
 */

export function streamInfo(info: unknown): Map<string, unknown> {
  const map = new Map<string, unknown>();
  if (!Array.isArray(info)) return map;
  for (let i = 0; i + 1 < info.length; i += 2) map.set(String(info[i]), info[i + 1]);
  return map;
}

export function toStored(rows: unknown): StoredMessage[] {
  if (!Array.isArray(rows)) return [];
  const out: StoredMessage[] = [];
  for (const row of rows as [string, string[]][]) {
    const fields = row[1];
    const i = fields.indexOf('b');
    const body = i >= 0 ? fields[i + 1] : undefined;
    if (body !== undefined) out.push({ id: row[0], body });
  }
  return out;
}

function isPresenceEntry(v: unknown): v is PresenceEntry {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.key === 'string' && typeof o.id === 'string' && typeof o.name === 'string';
}

export function parsePresenceEntry(json: string): PresenceEntry | undefined {
  try {
    const v: unknown = JSON.parse(json);
    return isPresenceEntry(v) ? { key: v.key, id: v.id, name: v.name } : undefined;
  } catch {
    return undefined;
  }
}

export function parsePresenceDelta(json: string): PresenceDelta | undefined {
  try {
    const v: unknown = JSON.parse(json);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (isPresenceEntry(o.join)) return { join: o.join };
    if (typeof o.leave === 'string') return { leave: o.leave };
    return undefined;
  } catch {
    return undefined;
  }
}
