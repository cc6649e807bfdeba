import type { PresenceEntry } from '@chat/protocol';

/** A message as stored: `body` comes from @chat/protocol's encodeStoredBody. */
export interface StoredMessage {
  id: string;
  body: string;
}

export interface AppendResult {
  id: string;
  /** The idempotency key was already used: nothing was stored or published again. */
  duplicate: boolean;
}

export type RangeResult =
  | { complete: true; entries: StoredMessage[] }
  /** The history after `afterId` cannot be served gap-free. */
  | { complete: false; reason: 'trimmed' | 'unknown_id' };

export type PresenceDelta = { join: PresenceEntry } | { leave: string };

/**
 * What the broker tells the pod's rooms. Live delivery is at most once (Redis pub/sub drops
 * messages on a reconnect or an output-buffer overflow), so every message carries `prev`, the
 * id the room's history held just before it: a pod that did not deliver `prev` last knows it
 * missed something and reads the gap from history.
 */
export interface BrokerListener {
  message(room: string, id: string, prev: string, body: string): void;
  presence(room: string, delta: PresenceDelta): void;
  /**
   * Live delivery was interrupted (the subscriber reconnected) and is back for every room:
   * the hub must read what it missed from history before trusting live delivery again.
   */
  resubscribed(): void;
}

/**
 * Who is in a room, kept apart from message delivery (as centrifuge keeps its PresenceManager
 * apart from its Broker): entries are stored per room, and every change is announced to the
 * room's subscribers through the broker's listener (`presence`).
 */
export interface Presence {
  /** Adds or replaces the entry `entry.key` (keys start with the owning node's id and `/`). */
  add(room: string, entry: PresenceEntry): Promise<void>;
  /** Removes an entry; a key that is not there is not announced. */
  remove(room: string, key: string): Promise<void>;
  list(room: string): Promise<PresenceEntry[]>;
}

/**
 * Which nodes (pods) are alive, and the removal of a stopped node's presence entries: a crashed
 * pod never says goodbye, so the others notice its heartbeat stop and reap it, room by room.
 */
export interface NodeLiveness {
  /** Records that this node is alive now. */
  beat(): Promise<void>;
  /** Nodes (other than this one) whose last beat is older than `ms`. */
  stale(ms: number): Promise<string[]>;
  /**
   * Removes every presence entry of `node` and forgets the node; announces each leave.
   * Returns the entries removed (0 when another node is already reaping it).
   */
  reap(node: string): Promise<number>;
}

/**
 * The one interface the server talks to. Two implementations: `memory` (embedded, one
 * process) and `redis` (pub/sub for live fan-out, a Stream per room for history; one Redis,
 * Sentinel or Redis Cluster). Presence and node liveness are their own interfaces, owned and
 * exposed by the broker because their announcements travel on its channels.
 */
export interface Broker {
  readonly kind: 'memory' | 'redis';
  readonly presence: Presence;
  readonly nodes: NodeLiveness;
  setListener(listener: BrokerListener): void;
  /**
   * Durably appends a message to the room's history and publishes it to every pod, atomically
   * and in id order. Resolves only once durable; a repeated `idemKey` resolves to the first id.
   */
  append(room: string, body: string, idemKey: string): Promise<AppendResult>;
  /** Resolves once live delivery for the room is active on this pod. */
  subscribe(room: string): Promise<void>;
  unsubscribe(room: string): Promise<void>;
  /** The newest id in the room's history, '0-0' when there is none. */
  lastId(room: string): Promise<string>;
  /** `lastId` of several rooms at once (the periodic check that live delivery is current). */
  lastIds(rooms: readonly string[]): Promise<string[]>;
  /**
   * Everything after `afterId`, oldest first, or why that cannot be served without a gap. With
   * `count`, at most that many (a page: a full page means read on from its last id).
   */
  range(room: string, afterId: string, count?: number): Promise<RangeResult>;
  /** The newest `count` messages, oldest first. */
  latest(room: string, count: number): Promise<StoredMessage[]>;
  /** False while the backing store is unreachable or too slow: readiness reports it. */
  healthy(): boolean;
  close(): Promise<void>;
}

export interface BrokerOptions {
  nodeId: string;
  maxLen: number;
  idempotencyTtlS: number;
}

/**
 * The append may or may not have happened (or happened but is not yet safe): the caller must
 * answer `outcome_unknown` so the client resends with the same clientMsgId. Thrown, for
 * example, when REDIS_ACK_REPLICAS replicas did not confirm the write in time.
 */
export class OutcomeUnknownError extends Error {
  override name = 'OutcomeUnknownError';
}
