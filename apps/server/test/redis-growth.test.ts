import { randomUUID } from 'node:crypto';
import { TestRedis } from '@chat/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../src/broker/redis.js';
import { singleLink } from './redis-links.js';

/**
 * Users sending at the allowed rate (USER_RATE_LIMIT_PER_S, 20 messages/s) into
 * a Redis with `maxmemory 200mb noeviction`: memory levels off at the history bound instead of
 * growing until Redis refuses every write (what happened before: 100 users filled it in 30 s).
 * Scaled down to 20 users for 10 s; the bound does not depend on time, only on rooms x maxlen.
 */
describe('Redis memory under sustained traffic', () => {
  const redis = new TestRedis();
  let admin: Redis;
  let broker: RedisBroker;
  const rooms = 1;
  const maxLen = 1000;
  beforeAll(async () => {
    await redis.start();
    admin = redis.client();
    await admin.config('SET', 'maxmemory', '200mb');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    const link = await singleLink(redis.url);
    broker = new RedisBroker({
      link,
      prefix: 'grow:',
      nodeId: 'grower',
      maxLen,
      idempotencyTtlS: 86400,
      roomTtlS: 3600,
    });
  });
  afterAll(async () => {
    await broker?.close();
    admin?.disconnect();
    await redis.destroy();
  });

  it('20 users at 20 messages/s for 10 s into one room: used_memory levels off once its history is full', async () => {
    const users = 20;
    const perSecond = 20;
    const seconds = 10;
    const text = 'a typical chat line of about sixty characters, give or take.';
    const used = async () => Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))?.[1]);
    const samples: number[] = [await used()];
    let refused = 0;
    let sent = 0;
    const started = Date.now();
    const sampler = setInterval(() => void used().then((u) => samples.push(u)), 1000);
    await Promise.all(
      Array.from({ length: users }, async (_, u) => {
        const room = `grow-${u % rooms}`;
        for (let i = 0; i < perSecond * seconds; i++) {
          // Paced to the allowed rate: message i leaves at i / perSecond seconds.
          const due = started + (i * 1000) / perSecond - Date.now();
          if (due > 0) await new Promise((r) => setTimeout(r, due));
          const id = randomUUID();
          const body = JSON.stringify({
            room,
            from: { id: `u${u}`, name: `user ${u}` },
            text,
            ts: Date.now(),
            clientMsgId: id,
          });
          await broker.append(room, body, id).then(
            () => sent++,
            () => refused++,
          );
        }
      }),
    );
    clearInterval(sampler);
    samples.push(await used());
    const mb = (b: number) => (b / 1048576).toFixed(1);
    const half = samples[Math.floor(samples.length / 2)] ?? 0;
    const end = samples.at(-1) ?? 0;
    const start = samples[0] ?? 0;
    console.log(
      `growth: ${sent} messages (${refused} refused) from ${users} users in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `used_memory MB per second: ${samples.map(mb).join(' ')}; ` +
        `bound ${rooms} room(s) x ${maxLen} (+ one node) x ~410 B; the second half grew ${mb(end - half)} MB, ` +
        `which extrapolates to ${mb((Math.max(0, end - half) / (seconds / 2)) * (100 / users) * 30)} MB for 100 users over 30 s`,
    );
    expect(refused).toBe(0);
    // The room's history filled in the first 3 s; after that memory stays flat but for the
    // trim saw-tooth (whole stream nodes). Before, every message added a key for 24 h: the
    // second half grew 0.4 MB here (extrapolated: 11 MB for 100 users over 30 s, every 30 s).
    expect(end - half).toBeLessThan((half - start) * 0.2);
    expect(await admin.hlen('grow:{grow-0}:i')).toBe(await admin.xlen('grow:{grow-0}:s'));
  }, 60_000);
});
