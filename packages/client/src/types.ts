import type {
  ChatMessage,
  CloseAction,
  ErrorCode,
  Member,
  PresenceEntry,
  ServerFrameOf,
  ServiceState,
} from '@chat/protocol';
import type { BackoffOptions } from './backoff.js';
import type { ClientEnvironment } from './environment.js';

/**
 * The smallest WebSocket surface the client uses, satisfied by the browser's `WebSocket` and by
 * the `ws` package. Handlers are typed loosely on purpose (`never`) so both implementations fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => unknown) | null;
  onmessage: ((event: never) => unknown) | null;
  onclose: ((event: never) => unknown) | null;
  onerror: ((event: never) => unknown) | null;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface TokenRequest {
  /** True after the server refused the token (4401): a cached token must not be reused. */
  forceRefresh: boolean;
  /** Consecutive failed attempts so far. */
  attempt: number;
  /**
   * Consecutive attempts that ended before `welcome`. A browser cannot see why an upgrade was
   * refused (401 for a bad token looks like any 1006), so an app may refresh its cached token
   * once this grows, rather than retry a token the server no longer accepts.
   */
  failedBeforeOpen: number;
}

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ChatClientOptions {
  /** `ws(s)://host/ws`. */
  url: string;
  /** Called before every connection attempt; the app decides whether to cache or refresh. */
  getToken: (request: TokenRequest) => string | Promise<string>;
  /** Defaults to the global `WebSocket` (browsers). Node 20 has none: pass the `ws` package's. */
  WebSocket?: WebSocketConstructor;
  backoff?: Partial<BackoffOptions>;
  /** The watchdog fires after `heartbeatGrace × welcome.heartbeatMs` without any frame. Default 2. */
  heartbeatGrace?: number;
  /** Overrides the watchdog timeout in milliseconds. */
  watchdogMs?: number;
  /** An attempt that has not received `welcome` after this long is dropped (as 1006). Default 10 s. */
  connectTimeoutMs?: number;
  /** The attempt counter resets after a connection has stayed open this long. Default 10 s. */
  healthyAfterMs?: number;
  /** An in-flight message without an ack after this long is resent (same clientMsgId). Default 10 s. */
  ackTimeoutMs?: number;
  /**
   * Retry delay for a send or a join refused as retryable (`unavailable`...) without a
   * `retryAfterMs`; a join refused again waits twice as long each time, up to `backoff.capMs`.
   * Default 1 s.
   */
  sendRetryMs?: number;
  /** Messages kept per room; 0 keeps none (events still fire). Default 500. */
  history?: number;
  /** Recent message ids remembered per room to drop duplicates. Default 1000. */
  dedupeWindow?: number;
  /** In [0, 1). Default Math.random. */
  random?: () => number;
  /** Milliseconds since the epoch. Default Date.now. */
  now?: () => number;
  timers?: Timers;
  /** online/offline and visibility hooks; default: detected in a browser, none in Node; null: none. */
  environment?: ClientEnvironment | null;
  /** Makes a clientMsgId. Default crypto.randomUUID (with fallbacks for insecure contexts). */
  createId?: () => string;
  /**
   * Refresh the token in-band before it expires: `getToken({forceRefresh: true})` is called
   * when about 20 % of the lifetime the server announced is left (at most 60 s before), and the
   * new token is sent in a `refresh` frame; the socket stays open. Default true.
   */
  refreshTokens?: boolean;
}

export interface ConnectionStatus {
  state: ConnectionState;
  /** The close code behind the last disconnect (1006 when the socket died without one). */
  code?: number;
  /** Why: the close reason (without its hint), or a local reason such as "heartbeat timeout". */
  reason?: string;
  action?: CloseAction;
  /** While reconnecting with a timer: when the next attempt starts (per `now`). */
  retryAt?: number;
  retryInMs?: number;
  /** Consecutive failed attempts. */
  attempt: number;
  /** False while the environment reports the network as offline (no attempts are made). */
  online: boolean;
  /** While open: the pod (server process) this socket is on, from `welcome.node`. */
  node?: string;
  user?: Member;
}

/**
 * What the server says about its chat service, apart from the socket: `degraded` while it
 * cannot reach its storage (joins and sends wait). `ok` on every new connection until told.
 */
export interface ServiceStatus {
  state: ServiceState;
  reason?: string;
}

export interface StateChange extends ConnectionStatus {
  previous: ConnectionState;
}

export type PendingStatus = 'queued' | 'sending' | 'failed';

/** A message sent but not yet acknowledged (or refused for good). */
export interface PendingMessage {
  clientMsgId: string;
  room: string;
  text: string;
  createdAt: number;
  status: PendingStatus;
  /** How many times it went on the wire (resends reuse the clientMsgId). */
  sends: number;
  error?: { code: ClientErrorCode; message: string };
}

export interface RoomSnapshot {
  room: string;
  /** Joined on the current connection (false while connecting or re-joining). */
  joined: boolean;
  /** Id-ordered, bounded by the `history` option. */
  messages: readonly ChatMessage[];
  /** Unacknowledged messages of this room, oldest first. */
  pending: readonly PendingMessage[];
  presence: readonly PresenceEntry[];
  /** One entry per user, sorted by name. */
  users: readonly Member[];
  lastId?: string;
}

export interface SendResult {
  clientMsgId: string;
  room: string;
  id: string;
  duplicate: boolean;
}

/** Resolves once the server has the message durably; rejects with a ChatClientError if it never will. */
export type SendHandle = Promise<SendResult> & { readonly clientMsgId: string };

export interface JoinResult {
  room: string;
  resumed: boolean;
  resync: boolean;
}

export type ClientErrorCode = ErrorCode | 'left';

export class ChatClientError extends Error {
  override readonly name = 'ChatClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly ref?: string,
  ) {
    super(message);
  }
}

export interface ChatClientEvents {
  /** Every state change, with the close code, reason and the next retry time. */
  state: StateChange;
  /** The server's service status changed (a `status` frame, or `ok` again on a new connection). */
  service: ServiceStatus;
  welcome: ServerFrameOf<'welcome'>;
  joined: ServerFrameOf<'joined'>;
  /** The room's messages were replaced (the resume point could not be served). */
  resync: ServerFrameOf<'resync'>;
  left: ServerFrameOf<'left'>;
  /**
   * A live message did not follow the last one we had (`prev` is not `lastId`): the client
   * re-joins the room with `since` to fill the hole. Should never fire; tests assert it.
   */
  gap: { room: string; id: string; prev: string; lastId: string };
  /** A message not seen before (live, replayed on join, or from a resync page). */
  message: ChatMessage;
  ack: ServerFrameOf<'ack'>;
  /** After a full list or a delta: the room's presence now. */
  presence: { room: string; entries: readonly PresenceEntry[]; users: readonly Member[] };
  /** Every `error` frame from the server. */
  error: ServerFrameOf<'error'>;
  /** A frame that did not decode or match its schema (it is ignored). */
  invalidFrame: { raw: string; message: string };
  /** Something in this room changed (messages, pending, presence, joined); read `getRoom`. */
  room: { room: string };
  /** The set of rooms changed (joined or left); read `rooms`. */
  rooms: readonly string[];
}
