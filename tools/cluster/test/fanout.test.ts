import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { Client, closeAll, token } from './client.js';

describe('3 pods behind the load balancer', () => {
  let cluster: Cluster;
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ pods: 3 });
  });
  afterAll(async () => {
    await closeAll(clients);
    await cluster?.stop();
  });

  it('starts 3 ready pods with distinct ids and ports', () => {
    const pods = cluster.pods();
    expect(pods).toHaveLength(3);
    expect(new Set(pods.map((p) => p.id)).size).toBe(3);
    expect(new Set(pods.map((p) => p.port)).size).toBe(3);
    expect(pods.every((p) => p.ready && p.routable && p.phase === 'running')).toBe(true);
    expect(cluster.redis.state).toBe('running');
  });

  it('proxies plain HTTP (the LB /readyz answers from a ready pod)', async () => {
    const res = await fetch(`${cluster.url}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { node: string };
    expect(cluster.pods().map((p) => p.id)).toContain(body.node);
  });

  it('spreads WebSocket clients over the pods (least connections) and counts them per pod', async () => {
    const tok = await token(cluster.url, 'spread');
    for (let i = 0; i < 6; i++) clients.push(await Client.connect(cluster.wsUrl, tok));
    const perNode = new Map<string, number>();
    for (const c of clients) perNode.set(c.node, (perNode.get(c.node) ?? 0) + 1);
    expect([...perNode.keys()].sort()).toEqual(
      cluster
        .pods()
        .map((p) => p.id)
        .sort(),
    );
    expect([...perNode.values()]).toEqual([2, 2, 2]);
    expect(cluster.pods().map((p) => p.connections)).toEqual([2, 2, 2]);
  });

  it('fans a message out from one pod to members on the others', async () => {
    const [a, b, c] = [clients[0], clients[1], clients[2]];
    if (!a || !b || !c) throw new Error('clients missing');
    expect(new Set([a.node, b.node, c.node]).size).toBe(3);
    await Promise.all([a.join('fanout'), b.join('fanout'), c.join('fanout')]);
    const ack = await a.say('fanout', 'hello from one pod');
    const [gotB, gotC] = await Promise.all([
      b.next('msg', (m) => m.id === ack.id),
      c.next('msg', (m) => m.id === ack.id),
    ]);
    expect(gotB.text).toBe('hello from one pod');
    expect(gotC.text).toBe('hello from one pod');
  });

  it('forgets a connection when the client closes it', async () => {
    const last = clients.pop();
    if (!last) throw new Error('no client');
    const node = last.node;
    await last.close();
    await expect.poll(() => cluster.pods().find((p) => p.id === node)?.connections).toBe(1);
  });
});
