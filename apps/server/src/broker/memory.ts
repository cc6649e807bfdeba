import { compareIds, ZERO_ID } from '@chat/protocol';
import { MemoryNodes, MemoryPresence } from './memory-presence.js';
import type {
  AppendResult,
  Broker,
  BrokerListener,
  BrokerOptions,
  RangeResult,
  StoredMessage,
} from './types.js';

interface RoomLog {
  entries: StoredMessage[];
  /** The idempotency key of each entry, same index: trimmed with it, as in Redis. */
  keys: string[];
  lastId: string;
  /** Highest id ever trimmed: a resume from below it has a hole. */
  maxDeletedId: string;
}

/**
 * The embedded broker: history, idempotency and presence in this process. Semantics match the
 * Redis broker (ids, trimming, resync rules, asynchronous in-order delivery) so the same broker
 * test suite runs against both; it cannot fan out across processes.
 */
export class MemoryBroker implements Broker {
  readonly kind = 'memory';
  private listener: BrokerListener | undefined;
  private readonly logs = new Map<string, RoomLog>();
  private readonly idem = new Map<string, { id: string; expires: number }>();
  readonly presence = new MemoryPresence((room, delta) => {
    if (this.subscribed.has(room)) queueMicrotask(() => this.listener?.presence(room, delta));
  });
  readonly nodes: MemoryNodes;
  private readonly subscribed = new Set<string>();
  private lastMs = 0;
  private seq = 0;
  private closed = false;
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly opts: BrokerOptions) {
    this.nodes = new MemoryNodes(opts.nodeId, this.presence);
    this.sweep = setInterval(() => this.expireIdempotencyKeys(), 60_000);
    this.sweep.unref();
  }

  setListener(listener: BrokerListener): void {
    this.listener = listener;
  }

  async append(room: string, body: string, idemKey: string): Promise<AppendResult> {
    this.assertOpen();
    const key = `${room}\n${idemKey}`;
    const prev = this.idem.get(key);
    if (prev && prev.expires > Date.now()) return { id: prev.id, duplicate: true };
    const id = this.nextId();
    const log = this.log(room);
    const prevId = log.entries.at(-1)?.id ?? ZERO_ID;
    log.entries.push({ id, body });
    log.keys.push(key);
    log.lastId = id;
    // Exact trimming, as in Redis; a trimmed message's idempotency key goes with it.
    while (log.entries.length > this.opts.maxLen) {
      const dropped = log.entries.shift();
      const droppedKey = log.keys.shift();
      if (dropped) log.maxDeletedId = dropped.id;
      if (droppedKey !== undefined && this.idem.get(droppedKey)?.id === dropped?.id)
        this.idem.delete(droppedKey);
    }
    this.idem.set(key, { id, expires: Date.now() + this.opts.idempotencyTtlS * 1000 });
    // Delivered on a later tick, as pub/sub would, so callers cannot depend on re-entrancy.
    if (this.subscribed.has(room)) queueMicrotask(() => this.listener?.message(room, id, prevId, body));
    return { id, duplicate: false };
  }

  async subscribe(room: string): Promise<void> {
    this.assertOpen();
    this.subscribed.add(room);
  }

  async unsubscribe(room: string): Promise<void> {
    this.subscribed.delete(room);
  }

  async lastId(room: string): Promise<string> {
    return this.logs.get(room)?.lastId ?? ZERO_ID;
  }

  async lastIds(rooms: readonly string[]): Promise<string[]> {
    return rooms.map((room) => this.logs.get(room)?.lastId ?? ZERO_ID);
  }

  async range(room: string, afterId: string, count?: number): Promise<RangeResult> {
    this.assertOpen();
    const log = this.logs.get(room);
    if (!log)
      return afterId === ZERO_ID
        ? { complete: true, entries: [] }
        : { complete: false, reason: 'unknown_id' };
    if (compareIds(afterId, log.lastId) > 0) return { complete: false, reason: 'unknown_id' };
    // Same rules as the Redis broker: a resume point older than the first entry was trimmed
    // away, or (nothing ever trimmed) belongs to a history this process never had (a restart).
    // This broker knows the last trimmed id exactly, so resuming from it is still gap-free.
    const untrimmed = log.maxDeletedId === ZERO_ID;
    const first = log.entries[0]?.id;
    const before = afterId === ZERO_ID ? !untrimmed : first === undefined || compareIds(afterId, first) < 0;
    if (before && afterId !== log.maxDeletedId) {
      return { complete: false, reason: untrimmed ? 'unknown_id' : 'trimmed' };
    }
    const after = log.entries.filter((e) => compareIds(e.id, afterId) > 0);
    return { complete: true, entries: count === undefined ? after : after.slice(0, count) };
  }

  async latest(room: string, count: number): Promise<StoredMessage[]> {
    this.assertOpen();
    return this.logs.get(room)?.entries.slice(-count) ?? [];
  }

  healthy(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweep);
  }

  private log(room: string): RoomLog {
    let log = this.logs.get(room);
    if (!log) {
      log = { entries: [], keys: [], lastId: ZERO_ID, maxDeletedId: ZERO_ID };
      this.logs.set(room, log);
    }
    return log;
  }

  /** Same shape and ordering as Redis stream ids: `<ms>-<seq>`, strictly increasing. */
  private nextId(): string {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = 0;
    } else {
      this.seq++;
    }
    return `${this.lastMs}-${this.seq}`;
  }

  private expireIdempotencyKeys(): void {
    const now = Date.now();
    for (const [k, v] of this.idem) if (v.expires <= now) this.idem.delete(k);
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('broker is closed');
  }
}
