import { afterEach, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../src/index.js';
import { Client, closeAll, msgId, token } from './client.js';

/**
 * `pnpm cluster --redis sentinel|cluster`: the same harness on a Sentinel set or a Redis
 * Cluster (3 primaries + 3 replicas). Pods get the matching settings and chat across pods;
 * "stop Redis" stops the first primary, and the chat carries on after the failover.
 */
describe.each(['sentinel', 'cluster'] as const)('the harness with --redis %s', (mode) => {
  let cluster: Cluster | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    await closeAll(clients);
    await cluster?.stop();
  });

  it('chats across pods, and through a stop of the first primary', async () => {
    cluster = await startCluster({ pods: 2, redis: mode });
    const env = cluster.podHandles()[0]?.env ?? {};
    if (mode === 'cluster') expect(env.REDIS_CLUSTER_NODES?.split(',')).toHaveLength(6);
    else expect(env.REDIS_SENTINELS?.split(',')).toHaveLength(3);
    expect(env.REDIS_URL).toBeUndefined();
    const [a, b] = cluster.pods();
    const connect = async (port: number | undefined, name: string) => {
      const c = await Client.connect(`ws://127.0.0.1:${port}/ws`, await token(cluster?.url ?? '', name));
      clients.push(c);
      await c.join('modes');
      return c;
    };
    const ada = await connect(a?.port, 'ada');
    const bob = await connect(b?.port, 'bob');
    const ack = await ada.say('modes', `on ${mode}`);
    expect((await bob.next('msg', (m) => m.id === ack.id)).text).toBe(`on ${mode}`);

    await cluster.stopRedis();
    // A replica takes over; a send resent until acked (as the client does) reaches the other pod.
    const clientMsgId = msgId();
    let id: string | undefined;
    for (const deadline = Date.now() + 30_000; id === undefined && Date.now() < deadline; ) {
      ada.send({ type: 'send', room: 'modes', clientMsgId, text: 'after the failover' });
      id = await ada
        .next('ack', (f) => f.clientMsgId === clientMsgId, 1500)
        .then(
          (f) => f.id,
          () => undefined,
        );
    }
    expect(id).toBeDefined();
    expect((await bob.next('msg', (m) => m.id === id, 15_000)).text).toBe('after the failover');
  }, 90_000);
});
