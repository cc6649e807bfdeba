import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { Client, closeAll, token } from './client.js';

describe('scale-in removes the emptiest pod first (pod-deletion-cost = open connections)', () => {
  let cluster: Cluster;
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ pods: 3 });
  });
  afterAll(async () => {
    await closeAll(clients);
    await cluster?.stop();
  });

  it('with 3, 1 and 2 sockets, scaling 3 -> 2 drains the pod with 1, then 2 -> 1 the pod with 2', async () => {
    const tok = await token(cluster.url, 'scale-in');
    // Through the balancer (it counts connections): least-connections spreads 1/1/1, then the
    // routable switch steers the rest.
    const [a, b, c] = cluster.pods().map((p) => p.id) as [string, string, string];
    const connectTo = async (pod: string, n: number) => {
      for (const id of [a, b, c]) cluster.setRoutable(id, id === pod);
      for (let i = 0; i < n; i++) clients.push(await Client.connect(cluster.wsUrl, tok));
    };
    await connectTo(a, 3);
    await connectTo(b, 1);
    await connectTo(c, 2);
    for (const id of [a, b, c]) cluster.setRoutable(id, true);
    expect(cluster.pods().map((p) => p.connections)).toEqual([3, 1, 2]);

    const exits: string[] = [];
    cluster.on('pod:exit', (e) => exits.push(e.id));
    await cluster.scale(2);
    expect(exits).toEqual([b]);
    // b's socket reconnects nowhere here (bare clients do not reconnect): a has 3, c has 2.
    await cluster.scale(1);
    expect(exits).toEqual([b, c]);
    expect(cluster.pods().map((p) => p.id)).toEqual([a]);
  });
});
