import { type ErrorCode, type PresenceEntry, type ServerFrame, withStoredBody } from '@chat/protocol';
import type { StoredMessage } from '../broker/types.js';

/**
 * Outgoing frames. Frames that carry messages are built around their stored bodies (see
 * @chat/protocol's stored.ts) instead of parse + stringify.
 */
export function msgFrame(id: string, prev: string, body: string): string {
  return withStoredBody(`"type":"msg","id":"${id}","prev":"${prev}"`, body);
}

function messageJson(m: StoredMessage): string {
  return withStoredBody(`"id":"${m.id}"`, m.body);
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

/**
 * A complete server-to-client WebSocket text frame (RFC 6455 §5.2: FIN, opcode 1, no mask,
 * 7/16/64-bit length, payload) in one Buffer. A fanned-out message is framed once per pod
 * and the same bytes are written to every socket, so no socket frames or copies it again.
 */
export function textFrame(text: string): Buffer {
  const len = Buffer.byteLength(text);
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(head + len);
  buf[0] = 0x81;
  if (len < 126) buf[1] = len;
  else if (len < 65536) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    buf.writeUInt32BE(len >>> 0, 6);
  }
  buf.write(text, head, 'utf8');
  return buf;
}

/** The payload of a frame built by textFrame (a view, not a copy). */
export function framePayload(frame: Buffer): Buffer {
  const len7 = (frame[1] ?? 0) & 0x7f;
  return frame.subarray(len7 < 126 ? 2 : len7 === 126 ? 4 : 10);
}

/** Milliseconds part of a stream id: when Redis (or the memory broker) stored the message. */
export function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}
