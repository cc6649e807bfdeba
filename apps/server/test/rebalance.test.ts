import { TestRedis } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Conn } from '../src/ws/connection.js';
import { excessSockets, FleetCounts, fleetMean, pickSockets } from '../src/ws/rebalance.js';
import { type RunningApp, startApp, TestClient } from './harness.js';

describe('excessSockets: shed down to ceil(mean), only past the margin', () => {
  it.each([
    // [own, fleet, margin %, expected]
    [90, [90, 0, 0], 10, 60], // scale-out 1 -> 3: mean 30
    [34, [34, 33, 33], 10, 0], // balanced within the margin
    [40, [40, 30, 30], 10, 6], // 40 > 33.3 × 1.1: down to 34
    [36, [36, 32, 32], 10, 0], // 36 < 33.3 × 1.1 = 36.7
    [2, [2, 1], 10, 0], // 2 > 1.65, but ceil(1.5) = 2: nothing to move, no flapping
    [3, [3, 0], 10, 1], // mean 1.5: down to 2
    [1000, [1000], 10, 0], // alone: nothing to balance
    [0, [0, 0], 10, 0],
    [50, [50, 20, 20, 10], 50, 25], // mean 25, 50 > 37.5
    [9, [9], 0, 0], // a fleet of one, no margin: still nothing
    [9, [], 10, 0], // nothing read (this pod's own entry not there yet)
    [9, [9, Number.NaN], 10, 0], // a corrupt entry: left out, so a fleet of one
    [9, [9, -3], 10, 0],
    [40, [40, 30, 30, Number.NaN], 10, 6], // the corrupt entry does not change the mean
  ])('own %s of fleet %j, margin %s%%: sheds %s', (own, fleet, margin, expected) => {
    expect(excessSockets(own, fleet, margin)).toBe(expected);
  });
});

describe('fleetMean', () => {
  it('averages the usable counts only', () => {
    expect(fleetMean([4, 2, Number.NaN, -1])).toBe(3);
    expect(fleetMean([])).toBe(0);
    expect(fleetMean([Number.NaN])).toBe(0);
  });
});

describe('pickSockets', () => {
  const conn = (id: string, over: Partial<Pick<Conn, 'closing' | 'draining'>> = {}) =>
    ({ id, closing: false, draining: false, ...over }) as unknown as Conn;
  it('takes the oldest sockets, never one already closing or draining', () => {
    const conns = [
      conn('a', { closing: true }),
      conn('b'),
      conn('c', { closing: true }),
      conn('d', { draining: true }),
      conn('e'),
      conn('f'),
    ];
    expect(pickSockets(conns, 2).map((c) => c.id)).toEqual(['b', 'e']);
    expect(pickSockets(conns, 0)).toEqual([]);
    expect(pickSockets(conns, 10).map((c) => c.id)).toEqual(['b', 'e', 'f']);
    // Not a count: nothing (a NaN used to take every socket).
    expect(pickSockets(conns, Number.NaN)).toEqual([]);
    expect(pickSockets(conns, -1)).toEqual([]);
  });
});

describe('with Redis', () => {
  const redis = new TestRedis();
  beforeAll(async () => {
    await redis.start();
  });
  afterAll(async () => {
    await redis.destroy();
  });

  it('FleetCounts: every pod sees every live count; both keys carry a TTL; stale and withdrawn pods drop out', async () => {
    const client = redis.client();
    try {
      const a = new FleetCounts(client, 't1:', 'pod-a', 60_000);
      const b = new FleetCounts(client, 't1:', 'pod-b', 60_000);
      const gone = new FleetCounts(client, 't1:', 'pod-gone', 150);
      await gone.publish(7);
      await a.publish(10);
      expect(Object.fromEntries(await b.publish(3))).toMatchObject({ 'pod-a': 10, 'pod-b': 3 });
      for (const key of ['t1:{fleet}:conns', 't1:{fleet}:expiry']) {
        const ttl = await client.pttl(key);
        expect(ttl, key).toBeGreaterThan(0);
        expect(ttl, key).toBeLessThanOrEqual(60_000);
      }
      // pod-gone stopped publishing: the next publish after its expiry removes it.
      await expect
        .poll(async () => [...(await a.publish(10)).keys()].sort(), { timeout: 5000 })
        .toEqual(['pod-a', 'pod-b']);
      await b.withdraw();
      expect([...(await a.publish(11)).entries()]).toEqual([['pod-a', 11]]);
      expect(await client.hlen('t1:{fleet}:conns')).toBe(1);
      expect(await client.zcard('t1:{fleet}:expiry')).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  /** Waits for `n` more publishes of `node` (its expiry score moves on by one interval each). */
  const publishes = async (prefix: string, node: string, n: number, intervalMs: number) => {
    const probe = redis.client();
    try {
      const expiry = async () => Number(await probe.zscore(`${prefix}{fleet}:expiry`, node));
      await expect.poll(expiry, { timeout: 5000 }).toBeGreaterThan(0);
      const from = await expiry();
      await expect.poll(expiry, { timeout: 10_000 }).toBeGreaterThanOrEqual(from + n * intervalMs);
    } finally {
      probe.disconnect();
    }
  };
  const rebalanceEnv = (prefix: string) => ({
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    REBALANCE_ENABLED: 'true',
    REBALANCE_INTERVAL_MS: '100',
    REBALANCE_MARGIN_PCT: '1',
    REBALANCE_MAX_CLOSE_RATE: '100',
    REBALANCE_RECONNECT_HINT_MS: '100',
  });
  const closedTotal = async (app: RunningApp) =>
    Number(
      /chat_rebalance_closed_sockets_total\{[^}]*\} (\d+)/.exec(
        await app.app.metrics.registry.metrics(),
      )?.[1],
    );

  it('a single pod with rebalancing on closes nothing, however full it is', async () => {
    const solo = await startApp({ ...rebalanceEnv('solo:'), NODE_ID: 'solo-a' });
    try {
      const clients = await Promise.all(
        Array.from({ length: 10 }, () => TestClient.connect(solo.wsUrl, solo.token('solo'))),
      );
      let closes = 0;
      for (const c of clients) void c.closed.then((x) => x.code === 1012 && closes++);
      await publishes('solo:', 'solo-a', 10, 100);
      expect(solo.app.hub.conns.size).toBe(10);
      expect(closes).toBe(0);
      expect(await closedTotal(solo)).toBe(0);
      for (const c of clients) await c.close();
    } finally {
      await solo.close();
    }
  });

  it('a balanced fleet closes nothing, even with a margin of 1 %', async () => {
    const a = await startApp({ ...rebalanceEnv('bal:'), NODE_ID: 'bal-a' });
    const b = await startApp({ ...rebalanceEnv('bal:'), NODE_ID: 'bal-b' });
    try {
      // One at a time, alternating (as a balancer would spread them): never more than one
      // apart, so never above ceil(mean). 5 and 5, then 5 and 4.
      const onA: TestClient[] = [];
      const onB: TestClient[] = [];
      for (let i = 0; i < 5; i++) {
        onA.push(await TestClient.connect(a.wsUrl, a.token('bal')));
        onB.push(await TestClient.connect(b.wsUrl, b.token('bal')));
      }
      let closes = 0;
      // Only the server's closes (1012); the one this test closes itself is not one.
      for (const c of [...onA, ...onB]) void c.closed.then((x) => x.code === 1012 && closes++);
      await publishes('bal:', 'bal-a', 10, 100);
      await publishes('bal:', 'bal-b', 10, 100);
      expect(closes).toBe(0);
      await onB.pop()?.close();
      await publishes('bal:', 'bal-a', 10, 100);
      expect([a.app.hub.conns.size, b.app.hub.conns.size, closes]).toEqual([5, 4, 0]);
      expect([await closedTotal(a), await closedTotal(b)]).toEqual([0, 0]);
      for (const c of [...onA, ...onB]) await c.close();
    } finally {
      await a.close();
      await b.close();
    }
  });

  describe('two pods, REBALANCE_ENABLED', () => {
    let a: RunningApp;
    let b: RunningApp;
    const env = () => ({
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'rb:',
      REBALANCE_ENABLED: 'true',
      REBALANCE_INTERVAL_MS: '100',
      REBALANCE_MARGIN_PCT: '10',
      REBALANCE_MAX_CLOSE_RATE: '20',
      REBALANCE_RECONNECT_HINT_MS: '200',
    });
    beforeAll(async () => {
      a = await startApp({ ...env(), NODE_ID: 'rb-a' });
      b = await startApp({ ...env(), NODE_ID: 'rb-b' });
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it('the fuller pod closes its excess with 1012 and a reconnect hint, in rounds at the bounded rate, and stops at the mean', async () => {
      const closes: { code: number; reason: string; at: number }[] = [];
      const moved: TestClient[] = [];
      const started = performance.now();
      // 12 on a, 0 on b; each shed client reconnects to b, as the balancer would send it there.
      const clients = await Promise.all(
        Array.from({ length: 12 }, () => TestClient.connect(a.wsUrl, a.token('rb'))),
      );
      for (const c of clients)
        void c.closed.then(async (x) => {
          closes.push({ ...x, at: performance.now() - started });
          moved.push(await TestClient.connect(b.wsUrl, b.token('rb')));
        });
      await expect
        .poll(() => [a.app.hub.conns.size, b.app.hub.conns.size], { timeout: 10_000 })
        .toEqual([6, 6]);
      expect(closes.every((c) => c.code === 1012 && c.reason.includes('retry=200'))).toBe(true);
      // 20/s × 100 ms = 2 per round, a quiet 400 ms between rounds: 6 sockets need 3 rounds.
      const span = Math.max(...closes.map((c) => c.at)) - Math.min(...closes.map((c) => c.at));
      expect(span).toBeGreaterThan(600);
      // Balanced: a sees mean 6.
      await expect
        .poll(async () => a.app.metrics.registry.metrics(), { timeout: 5000 })
        .toMatch(/chat_fleet_connections_mean\{node="rb-a"\} 6\n/);
      // Ten more of a's publishes (its expiry score moves on by 100 ms each) must move nothing.
      const probe = redis.client();
      const expiry = async () => Number(await probe.zscore('rb:{fleet}:expiry', 'rb-a'));
      const from = await expiry();
      await expect.poll(expiry, { timeout: 5000 }).toBeGreaterThanOrEqual(from + 1000);
      probe.disconnect();
      expect([a.app.hub.conns.size, b.app.hub.conns.size, closes.length]).toEqual([6, 6, 6]);
      const metrics = await a.app.metrics.registry.metrics();
      expect(metrics).toMatch(/chat_rebalance_closed_sockets_total\{node="rb-a"\} 6\n/);
      for (const c of [...clients, ...moved]) await c.close();
    });
  });
});
