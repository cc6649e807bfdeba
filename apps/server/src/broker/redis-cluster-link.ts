import type { Cluster } from 'ioredis';
import { keepConnecting, quit, type RedisLink } from './redis-link.js';

/**
 * A Redis Cluster with sharded pub/sub: the cluster client routes every command by its key's
 * slot, SPUBLISH runs inside the room's append script on the room's shard, and ioredis'
 * `shardedSubscribers` keeps one subscriber connection per primary (SSUBSCRIBE routed by the
 * channel's slot).
 *
 * What ioredis 5.11 does and does not do for us (read in its ClusterSubscriberGroup):
 * - a subscriber connection that drops is not retried: the cluster refreshes its slot map
 *   and replaces it, re-subscribing every channel of its slots, then emits `subscribersReady`;
 *   failed connects back off up to 2 s;
 * - a slot that moves (a reshard) unsubscribes its channels on the old owner (Redis pushes
 *   SUNSUBSCRIBE); ioredis notices only at its next slot-map refresh (a MOVED reply to any
 *   command, or `slotsRefreshInterval`, which the caller sets), re-subscribes them on the new
 *   owner and emits `subscribersReady`;
 * - `subscribersReady` is emitted once the SSUBSCRIBE commands are written, not answered.
 * So on every `subscribersReady` this link SSUBSCRIBEs its channels once more (each queued
 * behind ioredis' own on the same connection: when they resolve, the subscriptions are live)
 * and only then tells the rooms to heal from history. Messages published while a slot had no
 * subscriber are never assumed delivered: the rooms' `prev` chain and tail check find them.
 * (ioredis appends a channel to its per-slot list on every SSUBSCRIBE, so each such interruption
 * adds one more copy of each channel there, re-sent on its next resubscribe; SUNSUBSCRIBE drops
 * them all. Bounded by the number of interruptions, harmless to Redis.)
 */
export class ClusterLink implements RedisLink {
  readonly kind = 'cluster';
  readonly publish = 'SPUBLISH';
  private readonly channels = new Set<string>();
  private resubscribed: () => void = () => {};
  private closed = false;

  constructor(
    readonly client: Cluster,
    retryMs: number,
    private readonly warn: (err: unknown, msg: string) => void,
  ) {
    keepConnecting(client, retryMs, () => this.closed);
    client.on('subscribersReady', () => void this.onSubscribersReady());
  }

  async subscribe(channel: string): Promise<void> {
    await this.client.ssubscribe(channel);
    this.channels.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    if (this.client.status === 'ready') await this.client.sunsubscribe(channel);
  }

  onMessage(fn: (channel: string, payload: string) => void): void {
    this.client.on('smessage', fn);
  }

  onResubscribed(fn: () => void): void {
    this.resubscribed = fn;
  }

  /**
   * WAIT has no key, so the cluster client would send it to any node: pipelined behind a read
   * of the room's key it goes to the room's primary, on the connection that ran the append.
   */
  async wait(key: string, replicas: number, timeoutMs: number): Promise<number> {
    const results = await this.client.pipeline().exists(key).wait(replicas, timeoutMs).exec();
    const [err, acked] = results?.[1] ?? [new Error('pipeline aborted'), 0];
    if (err) throw err;
    return Number(acked);
  }

  ready(): boolean {
    return this.client.status === 'ready';
  }

  /**
   * Any primary answering is enough: one shard failing over makes the sends of its rooms fail
   * (`unavailable`, resent by clients) but must not take every pod out of readiness.
   */
  async ping(): Promise<void> {
    const primaries = this.client.nodes('master');
    if (primaries.length === 0) throw new Error('no Redis Cluster primary known');
    await Promise.any(primaries.map((node) => node.ping()));
  }

  /** ioredis replaces a dead sharded subscriber at its next slot refresh (see above). */
  watchSubscriber(): void {}

  async close(): Promise<void> {
    this.closed = true;
    await quit(this.client);
  }

  private async onSubscribersReady(): Promise<void> {
    if (this.closed) return;
    try {
      // One channel per command: after a reshard, channels of one node may sit in other slots.
      await Promise.all([...this.channels].map((channel) => this.client.ssubscribe(channel)));
    } catch (err) {
      // Some shard is still away: heal now anyway, its next `subscribersReady` heals again.
      this.warn(err, 're-subscribe after a cluster change failed');
    }
    this.resubscribed();
  }
}
