import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisClusterSet } from '@chat/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Broker } from '../src/broker/types.js';
import { brokerSuite, Recorder } from './broker.suite.js';
import { clusterLink, redisBrokers } from './redis-links.js';

/** The shared broker suite on a Redis Cluster of 3 primaries + 3 replicas (sharded pub/sub). */
const dir = mkdtempSync(join(tmpdir(), 'chat-cluster-suite-'));
const cluster = new RedisClusterSet({ dir });
beforeAll(async () => {
  await cluster.start();
}, 60_000);
afterAll(async () => {
  await cluster.destroy();
  rmSync(dir, { recursive: true, force: true });
});

brokerSuite(redisBrokers('redis cluster', () => clusterLink(cluster.nodes)));

/**
 * What the zero-loss machinery needs from the cluster broker: after any interruption of a
 * sharded subscription (its primary failed over, its slot moved) the listener hears
 * `resubscribed` once the subscription is live again, so rooms heal from the stream.
 */
describe('cluster broker: sharded subscriptions across a failover and a reshard', () => {
  let a: Broker;
  let b: Broker;
  let close: () => Promise<void>;
  let rec: Recorder;
  beforeEach(async () => {
    ({ a, b, close } = await redisBrokers('cluster', () => clusterLink(cluster.nodes)).create({
      maxLen: 1000,
    }));
    rec = new Recorder();
    b.setListener(rec);
  });
  afterEach(async () => close());

  /** Appends, retrying while the room's shard is unavailable (a failover in progress). */
  const send = async (room: string, text: string): Promise<string> => {
    const key = `${text}-${Math.random()}`;
    for (;;) {
      try {
        return (await a.append(room, JSON.stringify({ room, text }), key)).id;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const delivered = (id: string) => rec.messages.some((m) => m.id === id);

  it('a moved slot: resubscribed once its channel follows it, then live delivery resumes', async () => {
    const room = 'reshard-me';
    await b.subscribe(room);
    const first = await send(room, 'before');
    await expect.poll(() => delivered(first)).toBe(true);
    const slot = await cluster.slotOf(`test:{${room}}:s`);
    const owner = await cluster.ownerOf(slot);
    const target = (await cluster.topology()).find(
      (n) => n.role === 'primary' && !n.failed && n.id !== owner.id,
    );
    await cluster.moveSlots([slot], target?.port ?? 0);
    expect((await cluster.ownerOf(slot)).port).toBe(target?.port);
    await send(room, 'moved'); // its MOVED reply makes the cluster client refresh at once
    await expect.poll(() => rec.resubscribes, { timeout: 10_000 }).toBeGreaterThan(0);
    const after = await send(room, 'after');
    await expect.poll(() => delivered(after), { timeout: 5_000 }).toBe(true);
  });

  it("kill -9 of the room's primary: resubscribed once the replica took over, then live delivery resumes", async () => {
    const room = 'failover-me';
    await b.subscribe(room);
    const first = await send(room, 'before');
    await expect.poll(() => delivered(first)).toBe(true);
    const owner = await cluster.ownerOf(await cluster.slotOf(`test:{${room}}:s`));
    const { ms } = await cluster.killPrimary(owner.port);
    await expect.poll(() => rec.resubscribes, { timeout: 15_000 }).toBeGreaterThan(0);
    const after = await send(room, 'after');
    await expect.poll(() => delivered(after), { timeout: 5_000 }).toBe(true);
    console.log(`cluster broker: replica promoted ${ms} ms after kill -9; resubscribed ${rec.resubscribes}x`);
  }, 30_000);
});
