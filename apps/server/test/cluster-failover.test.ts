import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisClusterSet } from '@chat/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { metricSum } from './accounting.js';
import { account, roomsOnEveryShard, startPods, Traffic } from './cluster-fleet.js';
import { type RunningApp, until } from './harness.js';

/**
 * kill -9 of one shard's primary of a 3-shard Redis Cluster under chat traffic from 3 pods.
 * The shard's replica takes over and its rooms resume by themselves; the other shards' rooms
 * see no error and no gap. Acked messages the failover lost are counted against the streams:
 * with REDIS_ACK_REPLICAS=0 async replication may lose some, with 1 (WAIT) none may be lost
 * (two replicas per shard then, so the promoted primary still has one to confirm).
 */
describe.each([0, 1])('Redis Cluster shard failover under traffic, REDIS_ACK_REPLICAS=%i', (ackReplicas) => {
  let cluster: RedisClusterSet | undefined;
  let pods: RunningApp[] = [];
  let dir = '';
  afterEach(async () => {
    await Promise.all(pods.map((p) => p.close()));
    pods = [];
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the shard's rooms resume by themselves, the other shards' rooms see no error and no gap", async () => {
    dir = mkdtempSync(join(tmpdir(), 'chat-cluster-failover-'));
    cluster = new RedisClusterSet({ dir, replicas: ackReplicas > 0 ? 2 : 1 });
    await cluster.start();
    pods = await startPods(cluster, { REDIS_ACK_REPLICAS: String(ackReplicas), REDIS_ACK_TIMEOUT_MS: '500' });
    const placed = await roomsOnEveryShard(cluster, 2, 'shard');
    const victim = placed[0]?.port as number;
    const traffic = await Traffic.open(
      pods,
      placed.map((p) => p.room),
    );
    const onVictim = traffic.rooms.filter((r) => placed.find((p) => p.room === r.room)?.port === victim);
    const others = traffic.rooms.filter((r) => !onVictim.includes(r));
    traffic.start();
    await until(() => traffic.rooms.every((r) => r.acked.length >= 15), '15 acks in every room', 20_000);
    const { promoted, ms: promotedMs, killedAt } = await cluster.killPrimary(victim);
    // Resumed by itself: a message of each of the shard's rooms first sent after the kill is acked.
    const sentAfter = (r: (typeof onVictim)[number]) => r.acked.filter((a) => a.sentAt > killedAt);
    await until(
      () => onVictim.every((r) => sentAfter(r).length > 0),
      "acks in the failed shard's rooms",
      20_000,
    );
    const recoveredMs =
      Math.max(...onVictim.map((r) => Math.min(...sentAfter(r).map((a) => a.ackedAt)))) - killedAt;
    const resumedAt = traffic.acks(onVictim);
    await until(
      () => traffic.acks(onVictim) >= resumedAt + 30,
      '30 more acks on the promoted primary',
      20_000,
    );
    await traffic.stop();

    const heals = await metricSum('chat_live_heals_total', pods);
    const reports = await account(cluster, traffic);
    const victimReports = reports.filter((r) => onVictim.some((v) => v.room === r.room));
    const otherReports = reports.filter((r) => others.some((v) => v.room === r.room));
    const sum = (rs: typeof reports, k: keyof (typeof reports)[number]) =>
      rs.reduce((n, r) => n + Number(r[k]), 0);
    const otherErrors = others.reduce((n, r) => n + r.errors.length, 0);
    console.log(
      `cluster failover, REDIS_ACK_REPLICAS=${ackReplicas}: replica ${promoted.port} promoted ${promotedMs} ms after kill -9 of ${victim}, ` +
        `the shard's rooms acked again ${recoveredMs} ms after the kill; ` +
        `failed shard: ${sum(victimReports, 'acked')} acked, ${sum(victimReports, 'ackedLost')} acked lost, ${sum(victimReports, 'storedTwice')} stored twice, ` +
        `${sum(victimReports, 'lost')} missed by members, ${sum(victimReports, 'duplicates')} delivered twice, ${sum(victimReports, 'resyncs')} resyncs; ` +
        `other shards: ${sum(otherReports, 'acked')} acked, ${otherErrors} send errors, ${sum(otherReports, 'lost')} missed, ${sum(otherReports, 'chainBreaks')} gaps; ${heals} room heals on the pods`,
    );
    // Other shards: untouched.
    expect(otherErrors).toBe(0);
    for (const r of otherReports)
      expect(r).toMatchObject({
        ackedLost: 0,
        storedTwice: 0,
        lost: 0,
        duplicates: 0,
        outOfOrder: 0,
        resyncs: 0,
        chainBreaks: 0,
      });
    // The failed shard: never stored twice, never delivered twice or out of order; members that
    // were not told `resync` hold the whole stream.
    for (const r of victimReports) {
      expect(r).toMatchObject({ storedTwice: 0, duplicates: 0, outOfOrder: 0 });
      if (r.resyncs === 0) expect(r.lost).toBe(0);
    }
    if (ackReplicas > 0) expect(sum(victimReports, 'ackedLost')).toBe(0);
    await traffic.close();
  }, 90_000);
});
