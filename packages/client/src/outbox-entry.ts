import { ChatClientError, type PendingMessage, type SendResult } from './types.js';

/** One unacknowledged send, as the outbox keeps it (its public face is a PendingMessage). */
export interface OutboxEntry {
  clientMsgId: string;
  room: string;
  text: string;
  createdAt: number;
  status: PendingMessage['status'];
  sends: number;
  error?: PendingMessage['error'];
  /** Not sent again before this time (rate limited, storage unavailable). */
  notBefore: number;
  timer: unknown;
  resolve: (result: SendResult) => void;
  reject: (error: ChatClientError) => void;
}

/** Send-error codes after which the same clientMsgId is sent again later. */
export const RETRYABLE_SEND_ERRORS: ReadonlySet<string> = new Set<string>([
  'unavailable',
  'outcome_unknown',
  'rate_limited',
  'not_joined',
  'internal',
]);

/** Why a send is refused before it is queued, or undefined when it may be queued. */
export function refuseSend(
  clientMsgId: string,
  room: string,
  text: string,
  inRoom: boolean,
  maxChars: number,
): ChatClientError | undefined {
  if (!inRoom) return new ChatClientError('not_joined', `not in #${room}`, clientMsgId);
  if (text.length === 0) return new ChatClientError('bad_frame', 'empty message', clientMsgId);
  if (text.length > maxChars)
    return new ChatClientError('text_too_long', `longer than ${maxChars} characters`, clientMsgId);
  return undefined;
}

/** The copy of an entry handed out in snapshots. */
export function toPending(e: OutboxEntry): PendingMessage {
  return {
    clientMsgId: e.clientMsgId,
    room: e.room,
    text: e.text,
    createdAt: e.createdAt,
    status: e.status,
    sends: e.sends,
    ...(e.error ? { error: e.error } : {}),
  };
}
