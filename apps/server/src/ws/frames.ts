import type { ErrorCode, PresenceEntry, ServerFrame } from '@chat/protocol';
import type { StoredMessage } from '../broker/types.js';

/**
 * Outgoing frames. Message bodies are stored as JSON object strings, so frames that carry them
 * are built by concatenation around the body instead of parse + stringify; stream ids are
 * digits and a dash and need no escaping.
 */
export function msgFrame(id: string, body: string): string {
  return `{"type":"msg","id":"${id}",${body.slice(1)}`;
}

function messageJson(m: StoredMessage): string {
  return `{"id":"${m.id}",${m.body.slice(1)}`;
}

export function joinedFrame(
  room: string,
  messages: StoredMessage[],
  presence: PresenceEntry[],
  resumed: boolean,
): string {
  return `{"type":"joined","room":${JSON.stringify(room)},"resumed":${resumed},"presence":${JSON.stringify(presence)},"messages":[${messages.map(messageJson).join(',')}]}`;
}

export function resyncFrame(
  room: string,
  reason: 'trimmed' | 'unknown_id',
  messages: StoredMessage[],
  presence: PresenceEntry[],
): string {
  return `{"type":"resync","room":${JSON.stringify(room)},"reason":"${reason}","presence":${JSON.stringify(presence)},"messages":[${messages.map(messageJson).join(',')}]}`;
}

export function errorFrame(code: ErrorCode, message: string, ref?: string, retryAfterMs?: number): string {
  const frame: ServerFrame = { type: 'error', code, message };
  if (ref !== undefined) frame.ref = ref;
  if (retryAfterMs !== undefined) frame.retryAfterMs = retryAfterMs;
  return JSON.stringify(frame);
}

export function frame(f: ServerFrame): string {
  return JSON.stringify(f);
}

/** Milliseconds part of a stream id: when Redis (or the memory broker) stored the message. */
export function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}
