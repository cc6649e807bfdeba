import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAgainstStreams, deliveryReport, Fleet } from '../src/fleet.js';
import { type Cluster, startCluster } from '../src/index.js';

const CLIENTS = 90;
const MARGIN = 0.2;

/** Every pod within MARGIN of the mean (the acceptance bound; the server's own margin is 10 %). */
function balanced(counts: number[]): boolean {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  return counts.every((c) => Math.abs(c - mean) <= Math.max(1, mean * MARGIN));
}

describe('rebalancing after a scale-out from 1 to 3 pods', () => {
  let cluster: Cluster;
  let fleet: Fleet;

  beforeAll(async () => {
    cluster = await startCluster({
      pods: 1,
      env: {
        REBALANCE_ENABLED: 'true',
        REBALANCE_INTERVAL_MS: '300',
        REBALANCE_MAX_CLOSE_RATE: '100',
        REBALANCE_RECONNECT_HINT_MS: '300',
        HEARTBEAT_MS: '5000',
      },
    });
    fleet = new Fleet(cluster.url, { rooms: ['r1', 'r2', 'r3'], prefix: 'rb' });
    await fleet.grow(CLIENTS);
  });
  afterAll(async () => {
    fleet?.close();
    await cluster?.stop();
  });

  it('moves sockets to the new pods until every pod is within 20 % of the mean, losing no acked message', async () => {
    expect(cluster.pods().map((p) => p.connections)).toEqual([CLIENTS]);
    const load = fleet.sendLoad(40);
    const started = performance.now();
    await cluster.scale(3);
    const scaledMs = performance.now() - started;
    await expect
      .poll(() => balanced(cluster.pods().map((p) => p.connections)) && fleet.open === CLIENTS, {
        timeout: 30_000,
        interval: 100,
      })
      .toBe(true);
    const balancedMs = performance.now() - started;
    const counts = cluster.pods().map((p) => p.connections);
    await load.stop();
    // Every acked message reached every member of its room, once.
    await expect.poll(() => deliveryReport(fleet.members).lost, { timeout: 10_000 }).toBe(0);
    const report = deliveryReport(fleet.members);
    const acked = fleet.members.flatMap((m) => m.acked);
    const streams = await checkAgainstStreams(cluster.redis.url, acked);
    const codes = fleet.members.flatMap((m) => m.closeCodes);
    process.stdout.write(
      `rebalance 1 -> 3 pods, ${CLIENTS} clients: scale ${Math.round(scaledMs)} ms, balanced ${Math.round(balancedMs)} ms after the scale began; ` +
        `counts ${counts.join('/')}; acked ${report.acked}, lost ${report.lost}, duplicates ${report.duplicates}, ` +
        `failed sends ${report.failedSends}; reconnects/client ${report.reconnectsPerClient.toFixed(2)} (max ${report.maxReconnects}); ` +
        `closes ${codes.length} (${[...new Set(codes)].join(',')}); stream ${streams.stored} entries\n`,
    );
    expect(report.acked).toBeGreaterThan(20);
    expect(streams.missing).toEqual([]);
    expect(streams.storedTwice).toEqual([]);
    expect(report.duplicates).toBe(0);
    expect(report.failedSends).toBe(0);
    // Moved with 1012 (the drain's resume path), and only about the excess: 60 of 90 must move.
    expect(new Set(codes)).toEqual(new Set([1012]));
    expect(codes.length).toBeGreaterThanOrEqual(50);
    expect(codes.length).toBeLessThanOrEqual(90);
  });

  it('stays put once balanced: five more rounds of every pod move nothing', async () => {
    const closes = () => fleet.members.reduce((n, m) => n + m.closeCodes.length, 0);
    const before = closes();
    const redis = new Redis(cluster.redis.url, { maxRetriesPerRequest: 1 });
    try {
      // Each publish moves the pod's expiry score on by one interval (300 ms).
      const scores = async () =>
        Promise.all(cluster.pods().map(async (p) => Number(await redis.zscore('chat:{fleet}:expiry', p.id))));
      const from = await scores();
      expect(from.every((s) => s > 0)).toBe(true);
      await expect
        .poll(async () => (await scores()).every((s, i) => s >= (from[i] ?? 0) + 5 * 300), {
          timeout: 10_000,
        })
        .toBe(true);
    } finally {
      redis.disconnect();
    }
    expect(closes()).toBe(before);
    expect(cluster.pods().map((p) => p.connections)).toEqual([30, 30, 30]);
  });
});
