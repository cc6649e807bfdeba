import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { alive, Client, closeAll, token } from './client.js';

describe('killPod(): kill -9', () => {
  let cluster: Cluster;
  let tok: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ pods: 3, replaceKilled: false });
    tok = await token(cluster.url, 'victim');
  });
  afterAll(async () => {
    await closeAll(clients);
    await cluster?.stop();
  });

  it('drops the pod’s sockets without a close frame (1006) and stops routing to it', async () => {
    for (let i = 0; i < 3; i++) clients.push(await Client.connect(cluster.wsUrl, tok));
    const victim = clients[0];
    if (!victim) throw new Error('no client');
    const pod = cluster.pods().find((p) => p.id === victim.node);
    if (!pod?.pid) throw new Error('victim pod not found');
    const others = clients.filter((c) => c.node !== victim.node);

    const { exit, replacement } = await cluster.killPod(victim.node);
    expect(exit).toMatchObject({ id: pod.id, code: null, signal: 'SIGKILL' });
    expect(replacement).toBeUndefined();
    expect((await victim.closed).code).toBe(1006);
    expect(alive(pod.pid)).toBe(false);

    expect(cluster.pods().map((p) => p.id)).not.toContain(pod.id);
    expect(cluster.pods()).toHaveLength(2);
    for (let i = 0; i < 4; i++) {
      const c = await Client.connect(cluster.wsUrl, tok);
      clients.push(c);
      expect(c.node).not.toBe(pod.id);
    }
    // Sockets on the other pods are untouched.
    for (const c of others) expect(c.ws.readyState).toBe(1);
  });

  it('with replace, starts a new pod like a ReplicaSet and routes to it', async () => {
    const before = cluster.pods().map((p) => p.id);
    const target = before[0];
    if (!target) throw new Error('no pod');
    const { exit, replacement } = await cluster.killPod(target, { replace: true });
    expect(exit.signal).toBe('SIGKILL');
    expect(replacement?.ready).toBe(true);
    expect(before).not.toContain(replacement?.id);
    expect(cluster.pods().map((p) => p.id)).toEqual([...before.slice(1), replacement?.id]);
    // The new pod has the fewest connections, so the next upgrade lands there.
    const c = await Client.connect(cluster.wsUrl, tok);
    clients.push(c);
    expect(c.node).toBe(replacement?.id);
  });
});
