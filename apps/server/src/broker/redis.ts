import { compareIds, ZERO_ID } from '@chat/protocol';
import { parsePresenceDelta, streamInfo, toStored } from './redis-codec.js';
import { RedisKeys } from './redis-keys.js';
import type { RedisLink } from './redis-link.js';
import { RedisNodes, RedisPresence } from './redis-presence.js';
import { APPEND, PRESENCE_ADD, PRESENCE_REAP_ROOM, PRESENCE_REMOVE } from './redis-scripts.js';
import {
  type AppendResult,
  type Broker,
  type BrokerListener,
  type BrokerOptions,
  OutcomeUnknownError,
  type RangeResult,
  type StoredMessage,
} from './types.js';

export interface RedisBrokerOptions extends BrokerOptions {
  /** How Redis is reached (one Redis or a cluster). Created by the caller and handed over: the broker closes it. */
  link: RedisLink;
  prefix: string;
  /** A room's stream and idempotency hash expire after this many seconds without a message. */
  roomTtlS: number;
  /** Ack only once WAIT confirms this many replicas have the append (0: no WAIT). */
  ackReplicas?: number;
  ackTimeoutMs?: number;
  /** Rooms per step of reaping a dead pod's presence (one short script per room). */
  reapBatch?: number;
  /** Interval of the health ping and of this pod's presence heartbeat. */
  healthIntervalMs?: number;
  log?: { warn(obj: object, msg: string): void };
}

const SEP = '\x1f';
/** A pod whose presence heartbeat is this many intervals old is considered gone and reaped. */
const DEAD_AFTER_INTERVALS = 15;
/** Readiness turns false when the last successful ping is older than this many intervals. */
const UNHEALTHY_AFTER_INTERVALS = 3;
/** More than this many entries after a resume point cannot fit in any stream we keep. */
const RANGE_LIMIT = 100_000;

/**
 * Redis broker: one Stream per room (history, resume, idempotency) and pub/sub for live
 * fan-out. Publishing happens inside the append script so delivery order is id order. One
 * implementation for one Redis, Sentinel and Redis Cluster: the key layout (redis-keys.ts)
 * keeps every command on one room's slot, and the link says how Redis is reached.
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis';
  readonly presence: RedisPresence;
  readonly nodes: RedisNodes;
  private listener: BrokerListener | undefined;
  private readonly link: RedisLink;
  private readonly keys: RedisKeys;
  private readonly interval: number;
  private readonly healthTimer: NodeJS.Timeout;
  private lastPingOk = 0;
  private closed = false;

  constructor(private readonly opts: RedisBrokerOptions) {
    this.link = opts.link;
    this.keys = new RedisKeys(opts.prefix, this.link.kind === 'cluster');
    this.interval = opts.healthIntervalMs ?? 1000;
    this.presence = new RedisPresence(this.link, this.keys, opts.nodeId);
    this.nodes = new RedisNodes(this.link, this.keys, opts.nodeId, opts.reapBatch);
    const { client } = this.link;
    client.defineCommand('chatAppend', { numberOfKeys: 2, lua: APPEND });
    client.defineCommand('chatPresenceAdd', { numberOfKeys: 1, lua: PRESENCE_ADD });
    client.defineCommand('chatPresenceRemove', { numberOfKeys: 1, lua: PRESENCE_REMOVE });
    client.defineCommand('chatPresenceReapRoom', { numberOfKeys: 1, lua: PRESENCE_REAP_ROOM });
    this.link.onMessage((channel, payload) => this.onPublished(channel, payload));
    this.link.onResubscribed(() => this.listener?.resubscribed());
    this.healthTimer = setInterval(() => void this.heartbeat(), this.interval);
    this.healthTimer.unref();
    void this.heartbeat();
  }

  setListener(listener: BrokerListener): void {
    this.listener = listener;
  }

  async append(room: string, body: string, idemKey: string): Promise<AppendResult> {
    const stream = this.keys.stream(room);
    const [id, dup] = await this.link.client.chatAppend(
      stream,
      this.keys.idempotency(room),
      body,
      this.opts.maxLen,
      this.opts.roomTtlS,
      this.keys.channel(room),
      this.opts.nodeId,
      idemKey,
      this.opts.idempotencyTtlS * 1000,
      this.link.publish,
    );
    const replicas = this.opts.ackReplicas ?? 0;
    if (replicas > 0) {
      // After the script resolved, on the connection that ran it: WAIT covers this append even
      // when the script had to be re-sent (NOSCRIPT after a failover).
      const timeout = this.opts.ackTimeoutMs ?? 1000;
      let acked: number;
      try {
        acked = await this.link.wait(stream, replicas, timeout);
      } catch (err) {
        throw new OutcomeUnknownError(`WAIT for ${replicas} replica(s) failed: ${(err as Error).message}`);
      }
      if (acked < replicas)
        throw new OutcomeUnknownError(
          `only ${acked} of ${replicas} replica(s) confirmed the append in ${timeout} ms`,
        );
    }
    return { id, duplicate: dup === 1 };
  }

  subscribe(room: string): Promise<void> {
    return this.link.subscribe(this.keys.channel(room));
  }

  unsubscribe(room: string): Promise<void> {
    return this.link.unsubscribe(this.keys.channel(room));
  }

  async lastId(room: string): Promise<string> {
    const last = await this.link.client.xrevrange(this.keys.stream(room), '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? ZERO_ID;
  }

  /** One command per room, all sent at once (on a cluster each goes to its room's shard). */
  async lastIds(rooms: readonly string[]): Promise<string[]> {
    return Promise.all(rooms.map((room) => this.lastId(room)));
  }

  async range(room: string, afterId: string, count?: number): Promise<RangeResult> {
    const key = this.keys.stream(room);
    // One transaction so the bounds we check are the bounds of the entries we read.
    const results = await this.link.client
      .multi()
      .xinfo('STREAM', key)
      .xrange(key, `(${afterId}`, '+', 'COUNT', count ?? RANGE_LIMIT)
      .exec();
    const [infoErr, info] = results?.[0] ?? [new Error('transaction aborted'), null];
    const [rangeErr, rows] = results?.[1] ?? [new Error('transaction aborted'), null];
    if (infoErr) {
      if (/no such key/i.test(infoErr.message)) {
        return afterId === ZERO_ID
          ? { complete: true, entries: [] }
          : { complete: false, reason: 'unknown_id' };
      }
      throw infoErr;
    }
    if (rangeErr) throw rangeErr;
    const fields = streamInfo(info);
    const lastGenerated = fields.get('last-generated-id');
    if (typeof lastGenerated === 'string' && compareIds(afterId, lastGenerated) > 0) {
      return { complete: false, reason: 'unknown_id' };
    }
    // An id a client saw is either still in the stream or older than its first entry. Older
    // means trimmed away (we cannot tell whether the trimmed part held anything newer than the
    // resume point, so: resync) or, when nothing was ever trimmed (Redis >= 7 counts entries
    // ever added), an id from a history that no longer exists (Redis lost its data).
    const first = fields.get('first-entry');
    const firstId = Array.isArray(first) ? String(first[0]) : undefined;
    const added = fields.get('entries-added');
    const untrimmed = typeof added === 'number' && added === fields.get('length');
    if (afterId === ZERO_ID ? !untrimmed : firstId === undefined || compareIds(afterId, firstId) < 0) {
      return { complete: false, reason: untrimmed ? 'unknown_id' : 'trimmed' };
    }
    const entries = toStored(rows);
    if (count === undefined && entries.length >= RANGE_LIMIT) return { complete: false, reason: 'trimmed' };
    return { complete: true, entries };
  }

  async latest(room: string, count: number): Promise<StoredMessage[]> {
    const rows = await this.link.client.xrevrange(this.keys.stream(room), '+', '-', 'COUNT', count);
    return toStored(rows).reverse();
  }

  healthy(): boolean {
    return (
      !this.closed &&
      this.link.ready() &&
      Date.now() - this.lastPingOk < this.interval * UNHEALTHY_AFTER_INTERVALS
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    try {
      if (this.link.ready()) {
        await this.nodes.reap(this.opts.nodeId);
        this.presence.forgetAll();
      }
    } catch (err) {
      this.opts.log?.warn({ err }, 'could not remove this pod from presence on shutdown');
    }
    await this.link.close();
  }

  /** Pings Redis, refreshes this pod's heartbeat and reaps pods that stopped. */
  private async heartbeat(): Promise<void> {
    if (this.closed || !this.link.ready()) return;
    try {
      // PING, not a write: a Redis at maxmemory (noeviction) still answers it, so a full Redis
      // fails sends (`unavailable`) without taking every pod out of readiness at once.
      await this.link.ping();
      this.lastPingOk = Date.now();
      this.link.watchSubscriber(this.interval * UNHEALTHY_AFTER_INTERVALS);
      await this.nodes.beat();
      const dead = await this.nodes.stale(this.interval * DEAD_AFTER_INTERVALS);
      for (const node of dead) await this.nodes.reap(node);
    } catch (err) {
      this.opts.log?.warn({ err }, 'redis heartbeat failed');
    }
  }

  private onPublished(channel: string, payload: string): void {
    const room = this.keys.roomOf(channel);
    if (room === undefined || !this.listener) return;
    const a = payload.indexOf(SEP, 2);
    if (payload.startsWith(`m${SEP}`)) {
      // m US id US prev US node US body
      const b = payload.indexOf(SEP, a + 1);
      const c = b < 0 ? -1 : payload.indexOf(SEP, b + 1);
      if (a < 0 || c < 0) return;
      this.listener.message(room, payload.slice(2, a), payload.slice(a + 1, b), payload.slice(c + 1));
    } else if (payload.startsWith(`p${SEP}`) && a > 0) {
      const delta = parsePresenceDelta(payload.slice(a + 1));
      if (delta) this.listener.presence(room, delta);
    }
  }
}
