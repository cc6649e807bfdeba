import type { Cluster, Redis } from 'ioredis';
import type { PublishCommand } from './redis-scripts.js';

/** Commands and scripts: one Redis connection, or a Cluster that routes each by its key's slot. */
export type RedisCommands = Redis | Cluster;

/**
 * How the Redis broker reaches Redis: the one thing that differs between one Redis (or a
 * Sentinel-managed primary) and a Redis Cluster. Everything else (key layout, scripts,
 * healing) is shared by the one RedisBroker.
 */
export interface RedisLink {
  readonly kind: 'single' | 'cluster';
  readonly client: RedisCommands;
  readonly publish: PublishCommand;
  /** Resolves once the channel is subscribed. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** `fn` gets every published payload. */
  onMessage(fn: (channel: string, payload: string) => void): void;
  /**
   * `fn` runs after live delivery was interrupted (a reconnect, a failover, a moved slot) and
   * the subscriptions are confirmed again: whatever was published in between must be read
   * from history.
   */
  onResubscribed(fn: () => void): void;
  /** Sends WAIT on the connection that ran the last write to `key` (the room's append). */
  wait(key: string, replicas: number, timeoutMs: number): Promise<number>;
  /** Commands and subscriptions can run. */
  ready(): boolean;
  /** Resolves when Redis answers a PING (on a cluster: when any primary does). */
  ping(): Promise<void>;
  /** Called every health interval with the bound after which a silent subscriber is dropped. */
  watchSubscriber(staleMs: number): void;
  close(): Promise<void>;
}

/** ioredis gives up on a connection when a connect attempt is cancelled under it (status `end`): start over. */
export function keepConnecting(conn: RedisCommands, retryMs: number, closed: () => boolean): void {
  conn.on('end', () => {
    setTimeout(() => {
      if (!closed() && conn.status === 'end') conn.connect().catch(() => {});
    }, retryMs).unref();
  });
}

export async function quit(conn: RedisCommands): Promise<void> {
  try {
    await conn.quit();
  } catch {
    conn.disconnect();
  }
}

/**
 * One Redis (or the primary Sentinel points at): a command connection and a separate
 * subscriber connection with classic PUBLISH/SUBSCRIBE.
 */
export class SingleLink implements RedisLink {
  readonly kind = 'single';
  readonly publish = 'PUBLISH';
  private readonly channels = new Set<string>();
  private resubscribed: () => void = () => {};
  private wasReady: boolean;
  private lastSubPingOk = Date.now();
  private closed = false;

  constructor(
    readonly client: Redis,
    private readonly sub: Redis,
    retryMs: number,
    private readonly warn: (err: unknown, msg: string) => void,
  ) {
    for (const conn of [client, sub]) keepConnecting(conn, retryMs, () => this.closed);
    this.wasReady = sub.status === 'ready';
    sub.on('ready', () => void this.onSubscriberReady());
  }

  async subscribe(channel: string): Promise<void> {
    await this.sub.subscribe(channel);
    this.channels.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    if (this.sub.status === 'ready') await this.sub.unsubscribe(channel);
  }

  onMessage(fn: (channel: string, payload: string) => void): void {
    this.sub.on('message', fn);
  }

  onResubscribed(fn: () => void): void {
    this.resubscribed = fn;
  }

  wait(_key: string, replicas: number, timeoutMs: number): Promise<number> {
    return this.client.wait(replicas, timeoutMs);
  }

  ready(): boolean {
    return this.client.status === 'ready' && this.sub.status === 'ready';
  }

  /**
   * A subscriber connection can go quiet without closing (a half-open TCP connection, a proxy
   * that stopped forwarding): pings it and, when it has not answered for `staleMs`, drops it
   * so ioredis reconnects and the rooms heal from history.
   */
  async ping(): Promise<void> {
    await this.client.ping();
  }

  watchSubscriber(staleMs: number): void {
    if (this.sub.status !== 'ready') {
      this.lastSubPingOk = Date.now();
      return;
    }
    if (Date.now() - this.lastSubPingOk > staleMs) {
      this.warn({}, 'redis subscriber stopped answering; reconnecting it');
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

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([quit(this.sub), quit(this.client)]);
  }

  private async onSubscriberReady(): Promise<void> {
    if (!this.wasReady) {
      this.wasReady = true;
      return;
    }
    // ioredis re-subscribes by itself, but does not tell us when that is confirmed. Our own
    // SUBSCRIBE is queued behind its one, so once this resolves every channel is live again
    // and history can be read without missing a message published in between.
    try {
      if (this.channels.size > 0) await this.sub.subscribe(...this.channels);
      this.resubscribed();
    } catch (err) {
      this.warn(err, 're-subscribe after reconnect failed');
    }
  }
}
