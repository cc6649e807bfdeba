import { TestRedis } from '@chat/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { MemoryBroker } from '../src/broker/memory.js';
import { RedisBroker } from '../src/broker/redis.js';
import { brokerSuite } from './broker.suite.js';

brokerSuite({
  name: 'memory',
  async create({ maxLen }) {
    const broker = new MemoryBroker({ nodeId: 'n1', maxLen, idempotencyTtlS: 60 });
    return { a: broker, b: broker, close: () => broker.close() };
  },
});

const redis = new TestRedis();
beforeAll(async () => {
  await redis.start();
});
afterAll(async () => {
  await redis.destroy();
});

let pods = 0;
brokerSuite({
  name: 'redis',
  async create({ maxLen }) {
    const make = async () => {
      const client = new Redis(redis.url);
      const subscriber = new Redis(redis.url);
      await Promise.all([client.ping(), subscriber.ping()]);
      return new RedisBroker({
        client,
        subscriber,
        prefix: 'test:',
        nodeId: `pod-${pods++}`,
        maxLen,
        idempotencyTtlS: 60,
        roomTtlS: 3600,
        healthIntervalMs: 200,
      });
    };
    const [a, b] = await Promise.all([make(), make()]);
    await new Promise<void>((resolve) => {
      const check = () => (a.healthy() ? resolve() : setTimeout(check, 20));
      check();
    });
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  },
});
