import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { MemoryBroker } from '../broker/memory.js';
import { RedisBroker } from '../broker/redis.js';
import type { Broker } from '../broker/types.js';

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker;
  }
}

export interface BrokerPluginOptions {
  /** Use this broker instead of building one from config (tests share one memory broker). */
  broker?: Broker;
}

/**
 * The message broker: Redis when REDIS_URL is set, else the embedded memory broker. Redis
 * commands fail fast while disconnected (no offline queue) so a send during an outage gets an
 * `unavailable` error at once instead of hanging, and readiness reports the outage.
 */
export default fp<BrokerPluginOptions>(
  async (app, opts) => {
    const { config } = app;
    let broker = opts.broker;
    if (!broker && config.REDIS_URL) {
      const common = {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: 3000,
        connectionName: `chat:${config.NODE_ID}`,
        retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1000),
      };
      const client = new Redis(config.REDIS_URL, common);
      const subscriber = new Redis(config.REDIS_URL, { ...common, commandTimeout: undefined });
      for (const [role, conn] of [
        ['client', client],
        ['subscriber', subscriber],
      ] as const) {
        conn.on('error', (err: Error) => app.log.warn({ err: err.message, role }, 'redis connection error'));
      }
      // Boot even when Redis is down: readiness stays 503 until it connects.
      await Promise.allSettled([client.connect(), subscriber.connect()]);
      broker = new RedisBroker({
        client,
        subscriber,
        prefix: config.REDIS_PREFIX,
        nodeId: config.NODE_ID,
        maxLen: config.HISTORY_MAXLEN,
        idempotencyTtlS: config.IDEMPOTENCY_TTL_S,
        log: app.log,
      });
    }
    broker ??= new MemoryBroker({
      nodeId: config.NODE_ID,
      maxLen: config.HISTORY_MAXLEN,
      idempotencyTtlS: config.IDEMPOTENCY_TTL_S,
    });
    app.log.info({ broker: broker.kind }, 'broker ready');
    app.decorate('broker', broker);
    // An injected broker belongs to the caller.
    if (!opts.broker) app.addHook('onClose', async () => broker.close());
  },
  { name: 'broker', dependencies: ['config'] },
);
