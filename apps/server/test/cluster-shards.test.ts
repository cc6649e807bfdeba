import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisClusterSet } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricSum } from './accounting.js';
import { account, type RoomReport, roomsOnEveryShard, startPods, Traffic } from './cluster-fleet.js';
import { type RunningApp, until } from './harness.js';

/**
 * The chat on a Redis Cluster (3 primaries, sharded pub/sub) with 3 pods: rooms on every
 * shard, a member of each room on every pod. Faults while traffic runs: kill -9 of one shard's
 * primary, and a reshard of the slots of active rooms. Ground truth: the rooms' streams.
 */
const totals = (reports: RoomReport[]) =>
  reports.reduce(
    (t, r) => ({
      acked: t.acked + r.acked,
      ackedLost: t.ackedLost + r.ackedLost,
      storedTwice: t.storedTwice + r.storedTwice,
      lost: t.lost + r.lost,
      duplicates: t.duplicates + r.duplicates,
      outOfOrder: t.outOfOrder + r.outOfOrder,
      resyncs: t.resyncs + r.resyncs,
      chainBreaks: t.chainBreaks + r.chainBreaks,
    }),
    {
      acked: 0,
      ackedLost: 0,
      storedTwice: 0,
      lost: 0,
      duplicates: 0,
      outOfOrder: 0,
      resyncs: 0,
      chainBreaks: 0,
    },
  );

describe('3 pods on a 3-shard Redis Cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-cluster-app-'));
  const cluster = new RedisClusterSet({ dir });
  let pods: RunningApp[] = [];
  beforeAll(async () => {
    await cluster.start();
    pods = await startPods(cluster);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pods.map((p) => p.close()));
    await cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rooms on all 3 shards, members on 3 pods: every acked message delivered once, in order', async () => {
    const placed = await roomsOnEveryShard(cluster, 2, 'spread');
    expect(new Set(placed.map((p) => p.port)).size).toBe(3);
    const traffic = await Traffic.open(
      pods,
      placed.map((p) => p.room),
    );
    traffic.start();
    await until(() => traffic.rooms.every((r) => r.acked.length >= 25), '25 acks in every room', 20_000);
    await traffic.stop();
    const reports = await account(cluster, traffic);
    const t = totals(reports);
    console.log(`cluster spread: ${placed.length} rooms on 3 shards, ${JSON.stringify(t)}`);
    expect(t).toMatchObject({
      ackedLost: 0,
      storedTwice: 0,
      lost: 0,
      duplicates: 0,
      outOfOrder: 0,
      resyncs: 0,
    });
    for (const r of traffic.rooms) expect(r.errors).toEqual([]);
    await traffic.close();
  }, 40_000);

  it('a reshard of the slots of active rooms while traffic runs: nothing acked lost, no duplicates', async () => {
    const placed = await roomsOnEveryShard(cluster, 2, 'moving');
    const from = placed[0]?.port as number;
    const to = placed.find((p) => p.port !== from)?.port as number;
    const moving = placed.filter((p) => p.port === from);
    const traffic = await Traffic.open(
      pods,
      placed.map((p) => p.room),
    );
    traffic.start();
    await until(() => traffic.acks() >= 60, '60 acks', 20_000);
    const started = Date.now();
    // One key per MIGRATE, paced: the rooms' keys are split between the shards for a while.
    await cluster.moveSlots(
      moving.map((p) => p.slot),
      to,
      { batch: 1, pauseMs: 150 },
    );
    const movedMs = Date.now() - started;
    for (const p of moving) expect((await cluster.ownerOf(p.slot)).port).toBe(to);
    const after = traffic.acks();
    await until(
      () =>
        traffic.rooms
          .filter((r) => moving.some((p) => p.room === r.room))
          .every((r) => r.acked.some((a) => a.sentAt > started + movedMs)),
      'acks in the moved rooms after the move',
      15_000,
    );
    await until(() => traffic.acks() >= after + 60, '60 more acks', 20_000);
    await traffic.stop();
    const heals = await metricSum('chat_live_heals_total', pods);
    const reports = await account(cluster, traffic);
    const t = totals(reports);
    const errors = traffic.rooms.reduce((n, r) => n + r.errors.length, 0);
    console.log(
      `cluster reshard: ${moving.length} active rooms' slots moved in ${movedMs} ms under traffic; ${JSON.stringify(t)}, ${errors} send errors (resent), ${heals} room heals on the pods`,
    );
    expect(t).toMatchObject({
      ackedLost: 0,
      storedTwice: 0,
      lost: 0,
      duplicates: 0,
      outOfOrder: 0,
      resyncs: 0,
    });
    await traffic.close();
  }, 60_000);
});
