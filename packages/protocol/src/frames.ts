import { type Static, type TSchema, Type } from '@sinclair/typebox';

/**
 * Every frame on the wire is a JSON object with a `type` discriminator. Client frames are
 * strict (unknown fields are refused) because the server must not guess what a client meant;
 * server frames are validated by the client with the same schemas.
 */

/** Lower-case so "General" and "general" cannot become two rooms that look the same in the UI. */
export const ROOM_PATTERN = '^[a-z0-9][a-z0-9_-]{0,47}$';
export const MAX_TEXT_CHARS = 4000;
export const MAX_NAME_CHARS = 32;

export const RoomName = Type.String({ pattern: ROOM_PATTERN, maxLength: 48 });
export const StreamIdSchema = Type.String({ pattern: '^\\d{1,20}-\\d{1,20}$', maxLength: 41 });
/** Chosen by the client (a UUID or similar) and reused on every resend of the same message. */
export const ClientMsgId = Type.String({ pattern: '^[A-Za-z0-9_-]{8,64}$', maxLength: 64 });
export const Text = Type.String({ minLength: 1, maxLength: MAX_TEXT_CHARS });

export const Member = Type.Object({
  id: Type.String({ maxLength: 128 }),
  name: Type.String({ maxLength: MAX_NAME_CHARS }),
});
export type Member = Static<typeof Member>;

/** One presence entry per connection: a user with two tabs open has two keys. */
export const PresenceEntry = Type.Object({
  key: Type.String({ maxLength: 160 }),
  id: Type.String({ maxLength: 128 }),
  name: Type.String({ maxLength: MAX_NAME_CHARS }),
});
export type PresenceEntry = Static<typeof PresenceEntry>;

export const ChatMessage = Type.Object({
  id: StreamIdSchema,
  room: RoomName,
  from: Member,
  text: Type.String({ maxLength: MAX_TEXT_CHARS }),
  ts: Type.Integer({ minimum: 0 }),
  clientMsgId: ClientMsgId,
});
export type ChatMessage = Static<typeof ChatMessage>;

const strict = { additionalProperties: false } as const;
const Heartbeat = Type.Optional(Type.Number());

// ---- client -> server --------------------------------------------------------------------

export const JoinFrame = Type.Object(
  {
    type: Type.Literal('join'),
    room: RoomName,
    /** The last message id this client has seen in the room; the server replays what follows. */
    since: Type.Optional(StreamIdSchema),
  },
  strict,
);
export const LeaveFrame = Type.Object({ type: Type.Literal('leave'), room: RoomName }, strict);
export const SendFrame = Type.Object(
  { type: Type.Literal('send'), room: RoomName, clientMsgId: ClientMsgId, text: Text },
  strict,
);
export const ClientPingFrame = Type.Object({ type: Type.Literal('ping'), t: Heartbeat }, strict);
export const ClientPongFrame = Type.Object({ type: Type.Literal('pong'), t: Heartbeat }, strict);
/** Longest token accepted in a `refresh` frame (identity-provider JWTs run to a few KiB). */
export const MAX_TOKEN_CHARS = 8192;
/**
 * In-band token refresh: a new token for the same user. The server answers `refreshed` and moves
 * the socket's expiry, or `error {code: "bad_token"}` and keeps the old expiry (the socket is
 * closed 4401 when that passes).
 */
export const RefreshFrame = Type.Object(
  { type: Type.Literal('refresh'), token: Type.String({ minLength: 1, maxLength: MAX_TOKEN_CHARS }) },
  strict,
);

export const ClientFrame = Type.Union([
  JoinFrame,
  LeaveFrame,
  SendFrame,
  ClientPingFrame,
  ClientPongFrame,
  RefreshFrame,
]);
export type ClientFrame = Static<typeof ClientFrame>;
export type ClientFrameType = ClientFrame['type'];
export const CLIENT_FRAME_SCHEMAS: Record<ClientFrameType, TSchema> = {
  join: JoinFrame,
  leave: LeaveFrame,
  send: SendFrame,
  ping: ClientPingFrame,
  pong: ClientPongFrame,
  refresh: RefreshFrame,
};

// ---- server -> client --------------------------------------------------------------------

export const WelcomeFrame = Type.Object({
  type: Type.Literal('welcome'),
  /** The pod (server process) this socket is attached to; the demo UI shows it. */
  node: Type.String(),
  connId: Type.String(),
  user: Member,
  /** The server pings at this interval; a client that hears nothing for ~2 intervals reconnects. */
  heartbeatMs: Type.Integer({ minimum: 1 }),
  maxTextChars: Type.Integer({ minimum: 1 }),
  /**
   * The rate limits this socket is held to: frames of any type per socket, and messages per
   * user on this pod. A client paces its queued sends below them instead of being refused.
   */
  limits: Type.Optional(
    Type.Object({
      framesPerS: Type.Number({ minimum: 0 }),
      framesBurst: Type.Integer({ minimum: 1 }),
      messagesPerS: Type.Number({ minimum: 0 }),
      messagesBurst: Type.Integer({ minimum: 1 }),
    }),
  ),
  /**
   * Milliseconds until the token of this socket expires (relative, so clocks need not agree).
   * The client sends `refresh` with a new token before then, or the socket is closed 4401.
   */
  expiresInMs: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** The answer to `refresh`: the socket now lives until the new token expires. */
export const RefreshedFrame = Type.Object({
  type: Type.Literal('refreshed'),
  expiresInMs: Type.Integer({ minimum: 0 }),
});

export const JoinedFrame = Type.Object({
  type: Type.Literal('joined'),
  room: RoomName,
  /** With `since`: exactly the messages after it. Without: the latest page of history. */
  messages: Type.Array(ChatMessage),
  presence: Type.Array(PresenceEntry),
  resumed: Type.Boolean(),
});

/**
 * Sent instead of `joined` when the client's `since` can no longer be served gap-free
 * (trimmed from history, or from a history that no longer exists). The client must replace
 * what it shows for the room with `messages`, the latest page.
 */
export const ResyncFrame = Type.Object({
  type: Type.Literal('resync'),
  room: RoomName,
  reason: Type.Union([Type.Literal('trimmed'), Type.Literal('unknown_id')]),
  messages: Type.Array(ChatMessage),
  presence: Type.Array(PresenceEntry),
});

export const LeftFrame = Type.Object({ type: Type.Literal('left'), room: RoomName });

/**
 * A live message. `prev` is the id that came just before it in the room's history ('0-0' for
 * the first): a client whose last id for the room is not `prev` was handed a hole and rejoins
 * with `since` (the server proves the chain before sending, so this is belt and braces).
 */
export const MsgFrame = Type.Composite([
  Type.Object({ type: Type.Literal('msg'), prev: Type.Optional(StreamIdSchema) }),
  ChatMessage,
]);

/** Sent only once the message is durable in the room's history. */
export const AckFrame = Type.Object({
  type: Type.Literal('ack'),
  room: RoomName,
  clientMsgId: ClientMsgId,
  id: StreamIdSchema,
  /** True when this clientMsgId was already stored: the message shows once, under `id`. */
  duplicate: Type.Boolean(),
});

export const PresenceFrame = Type.Object({
  type: Type.Literal('presence'),
  room: RoomName,
  join: Type.Array(PresenceEntry),
  leave: Type.Array(Type.String()),
});

export const ServerPingFrame = Type.Object({ type: Type.Literal('ping'), t: Heartbeat });
export const ServerPongFrame = Type.Object({ type: Type.Literal('pong'), t: Heartbeat });

export const ERROR_CODES = [
  'bad_json',
  'bad_frame',
  'binary_unsupported',
  'unknown_type',
  'text_too_long',
  'rate_limited',
  'forbidden_room',
  'not_joined',
  'too_many_rooms',
  'unavailable',
  /** A send whose append did not answer: it may or may not be stored. Resend with the same clientMsgId. */
  'outcome_unknown',
  'bad_token',
  /**
   * A join the pod cannot serve now because it is already reading as much history as it allows
   * (HISTORY_READS_PER_POD reads running, HISTORY_READ_QUEUE waiting): join again after
   * `retryAfterMs`. Nothing about the room or the socket is wrong.
   */
  'busy',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** What each error code means and whether the client tries again: the README's table is checked against it. */
export const ERROR_CODE_INFO: Record<ErrorCode, { meaning: string; retry: boolean }> = {
  bad_json: { meaning: 'the frame is not JSON', retry: false },
  bad_frame: { meaning: 'the frame does not match its schema', retry: false },
  binary_unsupported: { meaning: 'a binary frame (only text frames are accepted)', retry: false },
  unknown_type: { meaning: 'no such frame type', retry: false },
  text_too_long: { meaning: 'a message longer than `maxTextChars`', retry: false },
  rate_limited: { meaning: 'too many frames or messages: wait `retryAfterMs`', retry: true },
  forbidden_room: { meaning: 'the token does not allow this room', retry: false },
  not_joined: { meaning: 'a send to a room the socket has not joined', retry: false },
  too_many_rooms: { meaning: 'the socket is in as many rooms as allowed', retry: false },
  unavailable: { meaning: 'storage (Redis) is unreachable: nothing stored, safe to resend', retry: true },
  outcome_unknown: {
    meaning: 'the store did not answer: the message may be stored; resend with the same clientMsgId',
    retry: true,
  },
  bad_token: { meaning: 'a refresh token that is invalid or for another user', retry: true },
  busy: {
    meaning: 'the pod is reading as much history as it allows: join again after `retryAfterMs`',
    retry: true,
  },
  internal: { meaning: 'a server bug', retry: true },
};

export const ErrorFrame = Type.Object({
  type: Type.Literal('error'),
  code: Type.Union(ERROR_CODES.map((c) => Type.Literal(c))),
  message: Type.String(),
  /** The clientMsgId (for `send`) or room (for `join`) the error is about, when there is one. */
  ref: Type.Optional(Type.String()),
  /** For `rate_limited` and `unavailable`: when trying again makes sense. */
  retryAfterMs: Type.Optional(Type.Integer({ minimum: 0 })),
});

/**
 * Whether this pod can serve chat right now, apart from the socket itself: `degraded` while
 * its broker (Redis) is unreachable, so joins and sends wait. Sent after `welcome` when not
 * `ok`, to every socket on each change, and after a join the pod could not serve.
 */
export const SERVICE_STATES = ['ok', 'degraded'] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];
export const StatusFrame = Type.Object({
  type: Type.Literal('status'),
  service: Type.Union(SERVICE_STATES.map((s) => Type.Literal(s))),
  /** For people: why the service is degraded ("Redis is unreachable: connect ECONNREFUSED"). */
  reason: Type.Optional(Type.String({ maxLength: 500 })),
});

export const ServerFrame = Type.Union([
  WelcomeFrame,
  JoinedFrame,
  ResyncFrame,
  LeftFrame,
  MsgFrame,
  AckFrame,
  PresenceFrame,
  ServerPingFrame,
  ServerPongFrame,
  RefreshedFrame,
  ErrorFrame,
  StatusFrame,
]);
export type ServerFrame = Static<typeof ServerFrame>;
export type ServerFrameType = ServerFrame['type'];
export type ServerFrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>;
export type ClientFrameOf<T extends ClientFrameType> = Extract<ClientFrame, { type: T }>;
export type ErrorFrame = ServerFrameOf<'error'>;
