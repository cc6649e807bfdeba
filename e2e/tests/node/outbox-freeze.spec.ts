import { ChatClient, type WebSocketConstructor } from '@chat/client';
import { type Cluster, startCluster } from '@chat/cluster';
import { WS_PATH } from '@chat/protocol';
import { fetchToken } from '@chat/testkit';
import { expect, test } from '@playwright/test';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { figures, type Member, percentile, sendLoad, startFleet } from '../support/fleet.js';

/** The client's side of the rate limits, and a pod that stops without closing anything. */
test.describe('client pacing and a frozen pod', () => {
  let cluster: Cluster;
  test.afterEach(async () => {
    await cluster?.stop();
  });

  test('500 messages queued offline are all acked once after connecting, with no 4429 close', async () => {
    // The server's limits, announced in `welcome`: 100 frames/s per socket, 100 messages/s per user.
    cluster = await startCluster({
      pods: 1,
      env: {
        RATE_LIMIT_PER_S: '100',
        RATE_LIMIT_BURST: '20',
        USER_RATE_LIMIT_PER_S: '100',
        USER_RATE_LIMIT_BURST: '40',
      },
    });
    const { url } = cluster.state();
    const token = await fetchToken(url, 'offline-writer');
    const client = new ChatClient({
      url: new URL(WS_PATH, url.replace(/^http/, 'ws')).toString(),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      getToken: async () => token,
      history: 0,
    });
    const closes: number[] = [];
    const refused: string[] = [];
    client.on('state', (s) => {
      if (s.previous === 'open' && s.code !== undefined) closes.push(s.code);
    });
    client.on('error', (e) => refused.push(e.code));
    const joined = client.join('outbox');
    const sends = Array.from({ length: 500 }, (_, i) => client.send('outbox', `queued ${i}`));
    const started = performance.now();
    client.connect();
    await joined;
    const results = await Promise.all(sends);
    const drainMs = Math.round(performance.now() - started);
    const closedBefore = [...closes];
    client.close();

    const redis = new Redis(cluster.state().redis.port, '127.0.0.1');
    const stream = await redis.xrange('chat:{outbox}:s', '-', '+');
    redis.disconnect();
    const storedIds = stream.map(([id]) => id);
    console.log(
      `outbox: ${results.length} queued, ${storedIds.length} stored, drained in ${drainMs} ms, ` +
        `${closedBefore.filter((c) => c === 4429).length} closes 4429, ${refused.filter((c) => c === 'rate_limited').length} rate_limited answers`,
    );
    expect(closedBefore).toEqual([]);
    expect(new Set(results.map((r) => r.id)).size).toBe(500);
    expect(storedIds.sort()).toEqual(results.map((r) => r.id).sort());
  });

  test('SIGSTOP of a pod under 100 clients: they are open on another pod within 15 s (p99), nothing acked lost', async () => {
    cluster = await startCluster({ pods: 3, env: { RATE_LIMIT_PER_S: '100' } });
    const fleet: Member[] = await startFleet(cluster.state().url, 100, ['frozen-1', 'frozen-2']);
    try {
      const load = sendLoad(fleet, 20);
      await expect.poll(() => figures(fleet, 0).acked).toBeGreaterThan(20);
      const victim = cluster.pods().find((p) => p.connections > 0);
      if (!victim?.pid) throw new Error('no pod holds connections');
      const onVictim = fleet.filter((m) => m.nodes.at(-1) === victim.id);
      expect(onVictim.length).toBeGreaterThan(10);
      const frozenAt = performance.now();
      const movedAt = new Map<Member, number>();
      for (const m of onVictim)
        m.client.on('welcome', (w) => {
          if (w.node !== victim.id && !movedAt.has(m)) movedAt.set(m, performance.now() - frozenAt);
        });
      process.kill(victim.pid, 'SIGSTOP');
      try {
        await expect.poll(() => movedAt.size, { timeout: 30_000 }).toBe(onVictim.length);
      } finally {
        process.kill(victim.pid, 'SIGCONT');
      }
      await load.stop();
      await expect.poll(() => figures(fleet, 0).lost, { timeout: 30_000 }).toBe(0);
      const times = [...movedAt.values()];
      const f = figures(fleet, 0);
      console.log(
        `frozen pod: ${onVictim.length} clients moved; open elsewhere p50 ${Math.round(percentile(times, 50))} ms, ` +
          `p99 ${Math.round(percentile(times, 99))} ms, max ${Math.round(Math.max(...times))} ms; ${JSON.stringify(f)}`,
      );
      expect(percentile(times, 99)).toBeLessThanOrEqual(15_000);
      expect(f.duplicates).toBe(0);
    } finally {
      for (const m of fleet) m.client.close();
    }
  });
});
