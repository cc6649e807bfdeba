import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type ClusterState, type RollResult, startCluster } from '../src/index.js';

describe('control API on the load balancer', () => {
  let cluster: Cluster;
  const call = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${cluster.url}/__cluster/${path}`, { method, headers });
    return { status: res.status, body: (await res.json()) as unknown };
  };

  beforeAll(async () => {
    cluster = await startCluster({ pods: 2, replaceKilled: false, preStopMs: 0 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('GET state lists pods and Redis', async () => {
    const { status, body } = await call('GET', 'state');
    expect(status).toBe(200);
    const state = body as ClusterState;
    expect(state.pods.map((p) => p.id)).toEqual(cluster.pods().map((p) => p.id));
    expect(state.pods.every((p) => p.ready && p.port > 0 && p.pid !== undefined)).toBe(true);
    expect(state.redis).toMatchObject({ state: 'running', port: cluster.redis.port });
  });

  it('POST roll rolls and returns the steps', async () => {
    const { status, body } = await call('POST', 'roll');
    expect(status).toBe(200);
    const result = body as RollResult;
    expect(result.steps.map((s) => s.exit.code)).toEqual([0, 0]);
    expect(cluster.pods().map((p) => p.id)).toEqual(result.steps.map((s) => s.new));
  });

  it('POST kill kills one pod', async () => {
    const victim = cluster.pods()[0]?.id;
    const { status, body } = await call('POST', `kill?pod=${victim}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({ exit: { id: victim, signal: 'SIGKILL' } });
    expect(cluster.pods().map((p) => p.id)).not.toContain(victim);
  });

  it('POST scale and redis/stop, redis/start', async () => {
    expect((await call('POST', 'scale?replicas=2')).status).toBe(200);
    expect(cluster.pods()).toHaveLength(2);
    expect((await call('POST', 'redis/stop')).status).toBe(200);
    expect(cluster.redis.state).toBe('stopped');
    // Every pod sees the outage and stays in the Service (READINESS_BROKER=startup).
    const brokers = () =>
      Promise.all(
        cluster.pods().map(async (p) => {
          const body = (await (await fetch(`http://127.0.0.1:${p.port}/readyz`)).json()) as {
            broker: string;
          };
          return body.broker;
        }),
      );
    await expect.poll(brokers).toEqual(['unavailable', 'unavailable']);
    expect(cluster.pods().every((p) => p.ready)).toBe(true);
    expect((await call('POST', 'redis/start')).status).toBe(200);
    expect(cluster.redis.state).toBe('running');
    await expect.poll(brokers, { timeout: 20_000 }).toEqual(['ok', 'ok']);
  });

  it('refuses foreign origins, unknown routes and bad input', async () => {
    expect((await call('POST', 'roll', { origin: 'http://evil.example' })).status).toBe(403);
    expect((await call('GET', 'nope')).status).toBe(404);
    expect((await call('POST', 'scale?replicas=-1')).status).toBe(400);
    expect((await call('POST', 'kill?pod=pod-999')).status).toBe(500);
  });
});
