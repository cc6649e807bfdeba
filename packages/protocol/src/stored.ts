import type { ChatMessage } from './frames.js';

/**
 * The stored (and published) form of a message: a JSON object of every ChatMessage field
 * except `id`, which the stream assigns. Keeping it pre-serialized lets a pod build each
 * outgoing frame by concatenation around the body, once per message, instead of re-encoding
 * it per socket; ids are digits and a dash and need no escaping.
 */
export type StoredBody = Omit<ChatMessage, 'id'>;

/** The one encoder of stored bodies (fixed key order, so equal messages store equally). */
export function encodeStoredBody(m: StoredBody): string {
  return JSON.stringify({
    room: m.room,
    from: { id: m.from.id, name: m.from.name },
    text: m.text,
    ts: m.ts,
    clientMsgId: m.clientMsgId,
  });
}

/**
 * A JSON object made of `head` (already-encoded `"key":value` pairs) followed by the fields of
 * a stored body: `withStoredBody('"id":"1-0"', body)` is the ChatMessage.
 */
export function withStoredBody(head: string, body: string): string {
  return `{${head},${body.slice(1)}`;
}
