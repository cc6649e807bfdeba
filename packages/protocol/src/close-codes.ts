/**
 * WebSocket close codes used by this chat and what a client must do for each. This table is
 * the single source: the server closes with these codes, the client library derives its
 * reconnect behaviour from `closeAction`, and the docs render from `CLOSE_CODES`.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  /** Never sent on the wire: what the client sees when the socket died without a close frame. */
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  Unauthorized: 4401,
  Forbidden: 4403,
  RateLimited: 4429,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

export type CloseAction =
  /** Do not reconnect; tell the user why. */
  | 'stay-closed'
  /** Reconnect soon (a short, jittered delay) and resume: the server is draining or restarting. */
  | 'reconnect-soon'
  /** Reconnect with the normal exponential backoff and resume. */
  | 'reconnect-backoff'
  /** Reconnect with a longer backoff: the server is at capacity or we were too slow. */
  | 'reconnect-slow'
  /** Fetch a new token, then reconnect. */
  | 'refresh-token'
  /** Reconnect after the delay hinted in the close reason (or a long backoff without a hint). */
  | 'reconnect-after-hint';

export interface CloseCodeInfo {
  code: number;
  name: keyof typeof CloseCode;
  meaning: string;
  action: CloseAction;
}

export const CLOSE_CODES: readonly CloseCodeInfo[] = [
  { code: 1000, name: 'Normal', meaning: 'normal close by the client', action: 'stay-closed' },
  { code: 1001, name: 'GoingAway', meaning: 'server going away', action: 'reconnect-soon' },
  {
    code: 1006,
    name: 'Abnormal',
    meaning: 'no close frame (pod killed, network lost)',
    action: 'reconnect-backoff',
  },
  {
    code: 1007,
    name: 'InvalidPayload',
    meaning: 'text frame that is not valid UTF-8',
    action: 'reconnect-backoff',
  },
  {
    code: 1008,
    name: 'PolicyViolation',
    meaning: 'policy violation: repeated invalid frames, too many fragments in one message',
    action: 'stay-closed',
  },
  {
    code: 1009,
    name: 'MessageTooBig',
    meaning: 'frame larger than the server accepts',
    action: 'reconnect-backoff',
  },
  { code: 1011, name: 'InternalError', meaning: 'server error', action: 'reconnect-backoff' },
  {
    code: 1012,
    name: 'ServiceRestart',
    meaning: 'server restarting (drain during a rolling update)',
    action: 'reconnect-soon',
  },
  {
    code: 1013,
    name: 'TryAgainLater',
    meaning: 'try again later (pod at capacity, slow consumer)',
    action: 'reconnect-slow',
  },
  {
    code: 4401,
    name: 'Unauthorized',
    meaning: 'token missing, invalid or expired',
    action: 'refresh-token',
  },
  { code: 4403, name: 'Forbidden', meaning: 'forbidden origin or room', action: 'stay-closed' },
  {
    code: 4429,
    name: 'RateLimited',
    meaning: 'rate limited: frames kept coming after being refused, or too many sockets',
    action: 'reconnect-after-hint',
  },
];

const BY_CODE = new Map(CLOSE_CODES.map((c) => [c.code, c]));

export function closeInfo(code: number): CloseCodeInfo | undefined {
  return BY_CODE.get(code);
}

/** Unknown codes are treated like a server error: back off and try again. */
export function closeAction(code: number): CloseAction {
  return BY_CODE.get(code)?.action ?? 'reconnect-backoff';
}

/** The close reason is limited to 123 bytes by RFC 6455; keep hints short and machine-readable. */
const RETRY_HINT = /(?:^|;\s*)retry=(\d{1,7})(?:;|$)/;

export function encodeCloseReason(message: string, retryAfterMs?: number): string {
  const hint = retryAfterMs === undefined ? '' : `;retry=${Math.max(0, Math.round(retryAfterMs))}`;
  const room = 123 - hint.length;
  let text = message;
  while (utf8Length(text) > room) text = text.slice(0, -1);
  return text + hint;
}

export function parseCloseReason(reason: string): { message: string; retryAfterMs?: number } {
  const m = RETRY_HINT.exec(reason);
  if (!m?.[1]) return { message: reason };
  return { message: reason.slice(0, m.index), retryAfterMs: Number(m[1]) };
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}
