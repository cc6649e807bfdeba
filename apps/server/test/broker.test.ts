import { TestRedis } from '@chat/testkit';
import { afterAll, beforeAll } from 'vitest';
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
