import { compareIds, type PresenceEntry, ZERO_ID } from '@chat/protocol';
import type { Redis } from 'ioredis';
import { parsePresenceDelta, parsePresenceEntry, streamInfo, toStored } from './redis-codec.js';
import { APPEND, PRESENCE_ADD, PRESENCE_REAP_STEP, PRESENCE_REMOVE } from './redis-scripts.js';
import {
  type AppendResult,
  type Broker,
  type BrokerListener,
  type BrokerOptions,
  OutcomeUnknownError,
  type PresenceDelta,
  type RangeResult,
  type StoredMessage,
} from './types.js';

export interface RedisBrokerOptions extends BrokerOptions {
  /** Commands and scripts. Created by the caller and handed over: the broker closes it. */
  client: Redis;
  /** A separate connection for subscriber mode, also handed over. */
  subscriber: Redis;
  prefix: string;
  /** A room's stream and idempotency hash expire after this many seconds without a message. */
  roomTtlS: number;
  /** Ack only once WAIT confirms this many replicas have the append (0: no WAIT). */
  ackReplicas?: number;
  ackTimeoutMs?: number;
  /** Rooms per step of reaping a dead pod's presence (one short script per step). */
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
 * A pod's room hash outlives a crash long enough for another pod (or the next one to start)
 * to reap it, and then expires even when no pod ever comes back; refreshed by the heartbeat.
 */
const NODE_ROOMS_TTL_S = 86_400;

/**
 * Redis broker: one Stream per room (history, resume, idempotency) and pub/sub for live
 * fan-out. Publishing happens inside the append script so delivery order is id order.
 */
export class RedisBroker implements Broker {
  readonly kind = 'redis';
  private listener: BrokerListener | undefined;
  private readonly client: Redis;
  private readonly sub: Redis;
  private readonly channels = new Set<string>();
  private readonly channelPrefix: string;
  private readonly interval: number;
  private readonly healthTimer: NodeJS.Timeout;
  private lastPingOk = 0;
  private lastSubPingOk = Date.now();
  private subscriberWasReady = false;
  private closed = false;

  constructor(private readonly opts: RedisBrokerOptions) {
    this.client = opts.client;
    this.sub = opts.subscriber;
    this.channelPrefix = `${opts.prefix}room:`;
    this.interval = opts.healthIntervalMs ?? 1000;
    this.client.defineCommand('chatAppend', { numberOfKeys: 2, lua: APPEND });
    this.client.defineCommand('chatPresenceAdd', { numberOfKeys: 2, lua: PRESENCE_ADD });
    this.client.defineCommand('chatPresenceRemove', { numberOfKeys: 2, lua: PRESENCE_REMOVE });
    this.client.defineCommand('chatPresenceReapStep', { numberOfKeys: 1, lua: PRESENCE_REAP_STEP });
    // ioredis gives up on a connection when a connect attempt is cancelled under it (status
    // `end`): a pod must never stay cut off from Redis while it runs, so start over.
    for (const conn of [this.client, this.sub])
      conn.on('end', () => {
        setTimeout(() => {
          if (!this.closed && conn.status === 'end') conn.connect().catch(() => {});
        }, this.interval).unref();
      });
    this.sub.on('message', (channel: string, payload: string) => this.onPublished(channel, payload));
    this.sub.on('ready', () => void this.onSubscriberReady());
    if (this.sub.status === 'ready') this.subscriberWasReady = true;
    this.healthTimer = setInterval(() => void this.heartbeat(), this.interval);
    this.healthTimer.unref();
    void this.heartbeat();
  }

  setListener(listener: BrokerListener): void {
    this.listener = listener;
  }

  async append(room: string, body: string, idemKey: string): Promise<AppendResult> {
    const appended = this.client.chatAppend(
      this.streamKey(room),
      `${this.roomKey(room)}:i`,
      body,
      this.opts.maxLen,
      this.opts.roomTtlS,
      this.channel(room),
      this.opts.nodeId,
      idemKey,
      this.opts.idempotencyTtlS * 1000,
    );
    const replicas = this.opts.ackReplicas ?? 0;
    // Sent right behind the script on the same connection: WAIT covers this append (and any
    // earlier write of this connection).
    const waited = replicas > 0 ? this.client.wait(replicas, this.opts.ackTimeoutMs ?? 1000) : undefined;
    waited?.catch(() => {});
    const [id, dup] = await appended;
    if (waited) {
      let acked: number;
      try {
        acked = await waited;
      } catch (err) {
        throw new OutcomeUnknownError(`WAIT for ${replicas} replica(s) failed: ${(err as Error).message}`);
      }
      if (acked < replicas)
        throw new OutcomeUnknownError(
          `only ${acked} of ${replicas} replica(s) confirmed the append in ${this.opts.ackTimeoutMs ?? 1000} ms`,
        );
    }
    return { id, duplicate: dup === 1 };
  }

  async subscribe(room: string): Promise<void> {
    const channel = this.channel(room);
    await this.sub.subscribe(channel);
    this.channels.add(channel);
  }

  async unsubscribe(room: string): Promise<void> {
    const channel = this.channel(room);
    this.channels.delete(channel);
    if (this.sub.status === 'ready') await this.sub.unsubscribe(channel);
  }

  async lastId(room: string): Promise<string> {
    const last = await this.client.xrevrange(this.streamKey(room), '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? ZERO_ID;
  }

  async lastIds(rooms: readonly string[]): Promise<string[]> {
    if (rooms.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const room of rooms) pipeline.xrevrange(this.streamKey(room), '+', '-', 'COUNT', 1);
    const results = (await pipeline.exec()) ?? [];
    return rooms.map((_, i) => {
      const [err, rows] = results[i] ?? [new Error('pipeline aborted'), null];
      if (err) throw err;
      return (rows as [string, string[]][])[0]?.[0] ?? ZERO_ID;
    });
  }

  async range(room: string, afterId: string): Promise<RangeResult> {
    const key = this.streamKey(room);
    // One transaction so the bounds we check are the bounds of the entries we read.
    const results = await this.client
      .multi()
      .xinfo('STREAM', key)
      .xrange(key, `(${afterId}`, '+', 'COUNT', RANGE_LIMIT)
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
    if (entries.length >= RANGE_LIMIT) return { complete: false, reason: 'trimmed' };
    return { complete: true, entries };
  }

  async latest(room: string, count: number): Promise<StoredMessage[]> {
    const rows = await this.client.xrevrange(this.streamKey(room), '+', '-', 'COUNT', count);
    return toStored(rows).reverse();
  }

  async presenceAdd(room: string, entry: PresenceEntry): Promise<void> {
    const delta: PresenceDelta = { join: entry };
    await this.client.chatPresenceAdd(
      this.presenceKey(room),
      this.nodeRoomsKey(this.opts.nodeId),
      entry.key,
      JSON.stringify(entry),
      room,
      this.channel(room),
      this.opts.nodeId,
      JSON.stringify(delta),
      NODE_ROOMS_TTL_S,
    );
  }

  async presenceRemove(room: string, key: string): Promise<void> {
    const delta: PresenceDelta = { leave: key };
    await this.client.chatPresenceRemove(
      this.presenceKey(room),
      this.nodeRoomsKey(this.opts.nodeId),
      key,
      this.channel(room),
      this.opts.nodeId,
      JSON.stringify(delta),
      room,
    );
  }

  async presenceList(room: string): Promise<PresenceEntry[]> {
    const all = await this.client.hgetall(this.presenceKey(room));
    const out: PresenceEntry[] = [];
    for (const json of Object.values(all)) {
      const entry = parsePresenceEntry(json);
      if (entry) out.push(entry);
    }
    return out;
  }

  healthy(): boolean {
    return (
      !this.closed &&
      this.client.status === 'ready' &&
      this.sub.status === 'ready' &&
      Date.now() - this.lastPingOk < this.interval * UNHEALTHY_AFTER_INTERVALS
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.healthTimer);
    try {
      if (this.client.status === 'ready') await this.reap(this.opts.nodeId);
    } catch (err) {
      this.opts.log?.warn({ err }, 'could not remove this pod from presence on shutdown');
    }
    await Promise.allSettled([quit(this.sub), quit(this.client)]);
  }

  /** Pings Redis, refreshes this pod's presence heartbeat and reaps pods that stopped. */
  private async heartbeat(): Promise<void> {
    if (this.closed || this.client.status !== 'ready') return;
    try {
      const now = Date.now();
      const nodesKey = `${this.opts.prefix}nodes`;
      // PING, not a write: a Redis at maxmemory (noeviction) still answers it, so a full Redis
      // fails sends (`unavailable`) without taking every pod out of readiness at once.
      await this.client.ping();
      this.lastPingOk = Date.now();
      this.checkSubscriber();
      await this.client
        .multi()
        .zadd(nodesKey, now, this.opts.nodeId)
        .expire(this.nodeRoomsKey(this.opts.nodeId), NODE_ROOMS_TTL_S)
        .exec();
      const dead = await this.client.zrangebyscore(
        nodesKey,
        '-inf',
        now - this.interval * DEAD_AFTER_INTERVALS,
      );
      for (const node of dead) if (node !== this.opts.nodeId) await this.reap(node);
    } catch (err) {
      this.opts.log?.warn({ err }, 'redis heartbeat failed');
    }
  }

  /**
   * A subscriber connection can go quiet without closing (a half-open TCP connection, a proxy
   * that stopped forwarding): pings it and, when it has not answered for a few intervals,
   * drops it so ioredis reconnects and the rooms heal from history.
   */
  private checkSubscriber(): void {
    if (this.sub.status !== 'ready') {
      this.lastSubPingOk = Date.now();
      return;
    }
    if (Date.now() - this.lastSubPingOk > this.interval * UNHEALTHY_AFTER_INTERVALS) {
      this.opts.log?.warn({}, 'redis subscriber stopped answering; reconnecting it');
      this.lastSubPingOk = Date.now();
      this.sub.disconnect(true);
      return;
    }
    this.sub.ping().then(
      () => {
        this.lastSubPingOk = Date.now();
      },
      () => {},
    );
  }

  /**
   * Removes a stopped pod's presence entries, one page of its rooms per script, under a lock so
   * that one pod does it. Returns the number of entries removed (0 when another pod holds the lock).
   */
  async reap(node: string): Promise<number> {
    const lock = `${this.opts.prefix}reap:${node}`;
    const ttlMs = 30_000;
    if (node !== this.opts.nodeId) {
      const got = await this.client.set(lock, this.opts.nodeId, 'PX', ttlMs, 'NX');
      if (got !== 'OK') return 0;
    }
    const rooms = this.nodeRoomsKey(node);
    let cursor = '0';
    let removed = 0;
    let steps = 0;
    do {
      const [next, n] = await this.client.chatPresenceReapStep(
        rooms,
        node,
        this.opts.prefix,
        this.channelPrefix,
        this.opts.nodeId,
        cursor,
        this.opts.reapBatch ?? 50,
      );
      cursor = String(next);
      removed += n;
      if (++steps % 100 === 0 && node !== this.opts.nodeId) await this.client.pexpire(lock, ttlMs);
    } while (cursor !== '0');
    await this.client.multi().del(rooms).zrem(`${this.opts.prefix}nodes`, node).del(lock).exec();
    return removed;
  }

  private async onSubscriberReady(): Promise<void> {
    if (!this.subscriberWasReady) {
      this.subscriberWasReady = true;
      return;
    }
    // ioredis re-subscribes by itself, but does not tell us when that is confirmed. Our own
    // SUBSCRIBE is queued behind its one, so once this resolves every channel is live again
    // and history can be read without missing a message published in between.
    try {
      if (this.channels.size > 0) await this.sub.subscribe(...this.channels);
      this.listener?.resubscribed();
    } catch (err) {
      this.opts.log?.warn({ err }, 're-subscribe after reconnect failed');
    }
  }

  private onPublished(channel: string, payload: string): void {
    if (!channel.startsWith(this.channelPrefix) || !this.listener) return;
    const room = channel.slice(this.channelPrefix.length);
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

  private roomKey(room: string): string {
    return `${this.opts.prefix}{${room}}`;
  }
  private streamKey(room: string): string {
    return `${this.roomKey(room)}:s`;
  }
  private presenceKey(room: string): string {
    return `${this.roomKey(room)}:p`;
  }
  private nodeRoomsKey(node: string): string {
    return `${this.opts.prefix}node:${node}:roomcount`;
  }
  private channel(room: string): string {
    return `${this.channelPrefix}${room}`;
  }
}

async function quit(redis: Redis): Promise<void> {
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
