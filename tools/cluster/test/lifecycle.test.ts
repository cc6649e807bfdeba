import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer, Cluster, startCluster } from '../src/index.js';
import { alive, Client, closeAll, token } from './client.js';

const started: Cluster[] = [];
const clients: Client[] = [];
const balancers: Balancer[] = [];

afterEach(async () => {
  await closeAll(clients.splice(0));
  await Promise.all(balancers.splice(0).map((b) => b.close()));
  await Promise.all(started.splice(0).map((c) => c.stop()));
});

function pidsOf(cluster: Cluster): number[] {
  return [cluster.redis.pid, ...cluster.pods().map((p) => p.pid)].filter((p) => p !== undefined);
}

describe('cluster lifecycle', () => {
  it('stop() leaves no process and no temp dir behind', async () => {
    const cluster = await startCluster({ pods: 2 });
    started.push(cluster);
    const pids = pidsOf(cluster);
    expect(pids).toHaveLength(3);
    expect(pids.every(alive)).toBe(true);
    clients.push(await Client.connect(cluster.wsUrl, await token(cluster.url)));
    await cluster.stop();
    await cluster.stop(); // idempotent
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(cluster.dir)).toBe(false);
    expect((await clients[0]?.closed)?.code).toBe(1006);
  });

  it('stop({ graceful: true }) drains every pod (exit 0) and clients see 1012', async () => {
    const cluster = await startCluster({ pods: 2 });
    started.push(cluster);
    const tok = await token(cluster.url);
    for (let i = 0; i < 2; i++) clients.push(await Client.connect(cluster.wsUrl, tok));
    const exits: (number | null)[] = [];
    cluster.on('pod:exit', (e) => exits.push(e.code));
    const pids = pidsOf(cluster);
    await cluster.stop({ graceful: true });
    expect(exits).toEqual([0, 0]);
    expect(pids.filter(alive)).toEqual([]);
    for (const c of clients) expect((await c.closed).code).toBe(1012);
  });

  it('fails fast with the pod log when the server rejects its config, and cleans up', async () => {
    const cluster = new Cluster({ pods: 1, env: { HEARTBEAT_MS: 'often' }, readyTimeoutMs: 10_000 });
    const spawned: number[] = [];
    cluster.on('pod:start', (p) => p.pid !== undefined && spawned.push(p.pid));
    cluster.on('redis:start', () => cluster.redis.pid !== undefined && spawned.push(cluster.redis.pid));
    const err = await cluster.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/exited \(code 78.*bad configuration/);
    expect(err?.message).toContain('HEARTBEAT_MS');
    expect(existsSync(cluster.dir)).toBe(false);
    expect(spawned).toHaveLength(2);
    expect(spawned.filter(alive)).toEqual([]);
  });

  it('tells to run `pnpm build` when the server bundle is missing', async () => {
    await expect(startCluster({ serverEntry: '/nonexistent/server.js' })).rejects.toThrow(/pnpm build/);
  });

  it('the LB retries an upgrade refused by a really draining pod (503) on another pod', async () => {
    // Slow drain: 3 sockets at 1 close/s keep pod A answering 503 for ~3 s after SIGTERM.
    const cluster = await startCluster({
      pods: 2,
      env: { DRAIN_MAX_CLOSE_RATE: '1', DRAIN_WINDOW_MS: '5000', SHUTDOWN_TIMEOUT_MS: '15000' },
    });
    started.push(cluster);
    const [a, b] = cluster.pods();
    if (!a || !b) throw new Error('pods missing');
    const tok = await token(cluster.url);
    for (let i = 0; i < 3; i++) clients.push(await Client.connect(`ws://127.0.0.1:${a.port}/ws`, tok));

    // A balancer that still has A in its endpoints (no readiness), as a mesh before endpoint removal.
    const backends = [a, b].map((p) => ({ id: p.id, host: '127.0.0.1', port: p.port, connections: 0 }));
    const lb = new Balancer({ backends: () => backends });
    await lb.listen();
    balancers.push(lb);

    const exited = cluster.waitFor('pod:exit', (e) => e.id === a.id);
    cluster.signalPod(a.id, 'SIGTERM');
    await expect.poll(async () => (await fetch(`http://127.0.0.1:${a.port}/readyz`)).status).toBe(503);

    for (let i = 0; i < 4; i++) {
      const c = await Client.connect(`ws://127.0.0.1:${lb.port}/ws`, tok);
      clients.push(c);
      expect(c.node).toBe(b.id);
    }
    expect(lb.stats.retries).toBeGreaterThanOrEqual(3);
    expect(lb.stats.refused).toBe(0);
    const [exit] = await exited;
    expect(exit.code).toBe(0);
  });
});
