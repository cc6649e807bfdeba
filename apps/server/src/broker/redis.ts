import { compareIds, type PresenceEntry, ZERO_ID } from '@chat/protocol';
import type { Redis } from 'ioredis';
import { parsePresenceDelta, parsePresenceEntry, streamInfo, toStored } from './redis-codec.js';
import { APPEND, PRESENCE_ADD, PRESENCE_REAP, PRESENCE_REMOVE } from './redis-scripts.js';
import type {
  AppendResult,
  Broker,
  BrokerListener,
  BrokerOptions,
  PresenceDelta,
  RangeResult,
  StoredMessage,
} from './types.js';

export interface RedisBrokerOptions extends BrokerOptions {
  /** Commands and scripts. Created by the caller and handed over: the broker closes it. */
  client: Redis;
  /** A separate connection for subscriber mode, also handed over. */
  subscriber: Redis;
  prefix: string;
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
    this.client.defineCommand('chatPresenceRemove', { numberOfKeys: 1, lua: PRESENCE_REMOVE });
    this.client.defineCommand('chatPresenceReap', { numberOfKeys: 2, lua: PRESENCE_REAP });
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
    const [id, dup] = await this.client.chatAppend(
      this.streamKey(room),
      `${this.roomKey(room)}:i:${idemKey}`,
      body,
      this.opts.maxLen,
      this.opts.idempotencyTtlS,
      this.channel(room),
      this.opts.nodeId,
    );
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
    );
  }

  async presenceRemove(room: string, key: string): Promise<void> {
    const delta: PresenceDelta = { leave: key };
    await this.client.chatPresenceRemove(
      this.presenceKey(room),
      key,
      this.channel(room),
      this.opts.nodeId,
      JSON.stringify(delta),
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
      await this.client.zadd(nodesKey, now, this.opts.nodeId);
      this.lastPingOk = Date.now();
      this.checkSubscriber();
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

  private reap(node: string): Promise<number> {
    return this.client.chatPresenceReap(
      `${this.opts.prefix}nodes`,
      this.nodeRoomsKey(node),
      node,
      this.opts.prefix,
      this.channelPrefix,
      this.opts.nodeId,
    );
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
    return `${this.opts.prefix}node:${node}:rooms`;
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
