import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { alive, Client, closeAll, token } from './client.js';

async function readyz(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  } catch {
    return 0;
  }
}

/** What the pod says its broker is doing (the body of /readyz). */
async function brokerOf(port: number): Promise<string> {
  try {
    return ((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { broker: string }).broker;
  } catch {
    return 'no answer';
  }
}

/** Process state letter from /proc (R, S, T = stopped, ...). */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

describe('the private Redis', () => {
  let cluster: Cluster;
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ pods: 2 });
  });
  afterAll(async () => {
    await closeAll(clients);
    await cluster?.stop();
  });

  it('is not the shared Redis: own port, dir and pidfile', () => {
    expect(cluster.redis.port).not.toBe(6379);
    expect(cluster.redis.dir.startsWith(cluster.dir)).toBe(true);
    expect(Number(readFileSync(`${cluster.redis.dir}/redis.pid`, 'utf8').trim())).toBe(cluster.redis.pid);
  });

  it('stopRedis()/startRedis(): every pod reports it and stays in the Service, and an acked message survives', async () => {
    const tok = await token(cluster.url, 'durable');
    const writer = await Client.connect(cluster.wsUrl, tok);
    clients.push(writer);
    await writer.join('durable');
    const ack = await writer.say('durable', 'written before the outage');

    const ports = cluster.pods().map((p) => p.port);
    const oldPid = cluster.redis.pid;
    await cluster.stopRedis();
    expect(cluster.redis.state).toBe('stopped');
    expect(oldPid !== undefined && alive(oldPid)).toBe(false);
    for (const port of ports) await expect.poll(() => brokerOf(port)).toBe('unavailable');
    // The whole fleet shares this Redis: the pods stay ready (README "Readiness choice"), so the
    // web app and the token endpoint stay reachable through the balancer during the outage.
    for (const port of ports) expect(await readyz(port)).toBe(200);
    expect(cluster.pods().every((p) => p.ready)).toBe(true);
    expect((await fetch(`${cluster.url}/`)).status).toBe(200);
    expect(await token(cluster.url, 'during-outage')).toBeTruthy();

    await cluster.startRedis();
    expect(cluster.redis.state).toBe('running');
    for (const port of ports) await expect.poll(() => brokerOf(port), { timeout: 20_000 }).toBe('ok');
    expect(cluster.pods().every((p) => p.ready)).toBe(true);

    const reader = await Client.connect(cluster.wsUrl, await token(cluster.url, 'reader'));
    clients.push(reader);
    const joined = await reader.join('durable');
    expect(joined.messages.map((m) => m.id)).toContain(ack.id);
    expect(joined.messages.find((m) => m.id === ack.id)?.text).toBe('written before the outage');
  });

  it('pauseRedis()/resumeRedis() SIGSTOP and SIGCONT the process', async () => {
    const pid = cluster.redis.pid;
    if (pid === undefined) throw new Error('redis not running');
    cluster.pauseRedis();
    expect(cluster.redis.state).toBe('paused');
    await expect.poll(() => procState(pid)).toBe('T');
    cluster.resumeRedis();
    expect(cluster.redis.state).toBe('running');
    await expect.poll(() => procState(pid)).not.toBe('T');
    await expect.poll(() => cluster.pods().every((p) => p.ready), { timeout: 20_000 }).toBe(true);
  });
});
