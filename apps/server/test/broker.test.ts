import { TestRedis } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../src/broker/memory.js';
import { brokerSuite } from './broker.suite.js';
import { redisBrokers, singleLink } from './redis-links.js';

brokerSuite({
  name: 'memory',
  async create({ maxLen }) {
    const broker = new MemoryBroker({ nodeId: 'n1', maxLen, idempotencyTtlS: 60 });
    return { a: broker, b: broker, close: () => broker.close(), nodeA: 'n1' };
  },
});

const redis = new TestRedis();
beforeAll(async () => {
  await redis.start();
});
afterAll(async () => {
  await redis.destroy();
});

brokerSuite(redisBrokers('redis', () => singleLink(redis.url)));

/**
 * A rolling upgrade from the previous version: its pods publish on `<prefix>room:<room>` with
 * the same payload. On one Redis (or Sentinel) the channel name is kept, so old and new pods
 * see each other's live messages during the roll (on a Redis Cluster the channel carries the
 * room's hash tag instead; there was no cluster mode before).
 */
describe('live delivery across versions on one Redis', () => {
  it('receives what the previous version publishes and publishes where it listens', async () => {
    const { a, close } = await redisBrokers('compat', () => singleLink(redis.url)).create({ maxLen: 100 });
    const received: string[] = [];
    a.setListener({ message: (_room, id) => received.push(id), presence: () => {}, resubscribed: () => {} });
    await a.subscribe('compat');
    const raw = redis.client();
    const old = redis.client();
    try {
      const heard: string[] = [];
      await old.subscribe('test:room:compat');
      old.on('message', (_channel, payload: string) => heard.push(payload.split('\x1f')[1] ?? ''));
      // What the previous version's append script publishes: m US id US prev US node US body.
      await raw.publish('test:room:compat', ['m', '5-0', '4-0', 'old-pod', '{"room":"compat"}'].join('\x1f'));
      await expect.poll(() => received).toEqual(['5-0']);
      const { id } = await a.append('compat', '{"room":"compat"}', 'cm-compat-1');
      await expect.poll(() => heard).toContain(id);
    } finally {
      raw.disconnect();
      old.disconnect();
      await close();
    }
  });
});

/**
 * A pod of the previous version that crashes during a rolling upgrade: its presence entries
 * are in the rooms' hashes (same layout) and its rooms in `<prefix>node:<id>:roomcount` (room
 * -> entries), not in the set this version keeps. The pods of this version reap it by
 * themselves, as they reap their own kind; before, its entries stayed for ever.
 */
describe('reaping a crashed pod of the previous version on one Redis', () => {
  it('removes its entries from every room it was in and forgets it', async () => {
    const { b, close } = await redisBrokers('legacy', () => singleLink(redis.url)).create({ maxLen: 100 });
    const raw = redis.client();
    try {
      const rooms = Array.from({ length: 120 }, (_, i) => `legacy-${i}`); // more than a reap step
      const entry = (room: string) => JSON.stringify({ key: `old-pod/c-${room}`, id: 'u_old', name: 'Old' });
      const write = raw.multi();
      for (const room of rooms) {
        write.hset(`test:{${room}}:p`, `old-pod/c-${room}`, entry(room));
        write.hset(
          `test:{${room}}:p`,
          `alive/c-${room}`,
          JSON.stringify({ key: `alive/c-${room}`, id: 'u_a', name: 'A' }),
        );
        write.hset('test:node:old-pod:roomcount', room, 1);
      }
      write.zadd('test:nodes', Date.now() - 60_000, 'old-pod');
      await write.exec();
      // No call from the test: the heartbeat finds the stale node and reaps it.
      await expect
        .poll(async () => (await Promise.all(rooms.map((r) => b.presence.list(r)))).map((l) => l.length), {
          timeout: 10_000,
        })
        .toEqual(rooms.map(() => 1));
      expect((await b.presence.list('legacy-7'))[0]?.key).toBe('alive/c-legacy-7');
      await expect.poll(() => raw.zscore('test:nodes', 'old-pod')).toBeNull();
      expect(await raw.exists('test:node:old-pod:roomcount')).toBe(0);
    } finally {
      raw.disconnect();
      await close();
    }
  });
});
