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
 * The one interface the server talks to. Two implementations: `memory` (embedded, one
 * process) and `redis` (pub/sub for live fan-out, a Stream per room for history).
 */
export interface Broker {
  readonly kind: 'memory' | 'redis';
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
  /** `lastId` of several rooms in one round trip (the periodic check that live delivery is current). */
  lastIds(rooms: readonly string[]): Promise<string[]>;
  /** Everything after `afterId`, oldest first, or why that cannot be served without a gap. */
  range(room: string, afterId: string): Promise<RangeResult>;
  /** The newest `count` messages, oldest first. */
  latest(room: string, count: number): Promise<StoredMessage[]>;
  presenceAdd(room: string, entry: PresenceEntry): Promise<void>;
  presenceRemove(room: string, key: string): Promise<void>;
  presenceList(room: string): Promise<PresenceEntry[]>;
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
