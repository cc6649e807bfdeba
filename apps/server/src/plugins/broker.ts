import fp from 'fastify-plugin';
import { MemoryBroker } from '../broker/memory.js';
import { RedisBroker } from '../broker/redis.js';
import { createLink, redisAddress, redisConfigured } from '../broker/redis-connect.js';
import type { Broker } from '../broker/types.js';
import { BrokerHealth } from '../health.js';

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker;
    /** The broker's health as change events (the `status` frame and the logs follow it). */
    brokerHealth: BrokerHealth;
  }
}

export interface BrokerPluginOptions {
  /** Use this broker instead of building one from config (tests share one memory broker). */
  broker?: Broker;
}

/**
 * The message broker: Redis when REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES is set, else the embedded memory broker. Redis
 * commands fail fast while disconnected (no offline queue) so a send during an outage gets an
 * `unavailable` error at once instead of hanging, and readiness reports the outage.
 */
export default fp<BrokerPluginOptions>(
  async (app, opts) => {
    const { config } = app;
    let broker = opts.broker;
    let health: BrokerHealth | undefined;
    if (!broker && redisConfigured(config)) {
      const common = {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: 3000,
        connectionName: `chat:${config.NODE_ID}`,
        retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1000),
      };
      const { link, conns } = createLink(config, common, 1000, (err, msg) => app.log.warn({ err }, msg));
      const where = redisAddress(config);
      let lastError: string | undefined;
      for (const [role, conn] of conns) {
        conn.on('error', (err: NodeJS.ErrnoException) => {
          const what = err.code ?? err.message;
          // Retried every second while Redis is away: log a new kind of error, not every retry.
          if (what !== lastError) app.log.warn({ err: err.message, role }, 'redis connection error');
          lastError = what;
          health?.poke();
        });
        for (const event of ['ready', 'close', 'end', 'reconnecting'])
          conn.on(event, () => {
            if (event === 'ready') lastError = undefined;
            health?.poke();
          });
      }
      // Boot even when Redis is down: readiness stays 503 until it connects.
      const connected = await Promise.allSettled(conns.map(([, conn]) => conn.connect()));
      const failed = connected.find((r) => r.status === 'rejected');
      if (failed) {
        const err = (failed as PromiseRejectedResult).reason as NodeJS.ErrnoException;
        app.log.error(
          { redis: where, err: err?.message },
          `cannot reach Redis at ${where} (${lastError ?? err?.code ?? err?.message}): serving anyway, but readiness is 503 and clients are told the chat service is degraded until it answers`,
        );
      }
      broker = new RedisBroker({
        link,
        prefix: config.REDIS_PREFIX,
        nodeId: config.NODE_ID,
        maxLen: config.HISTORY_MAXLEN,
        idempotencyTtlS: config.IDEMPOTENCY_TTL_S,
        roomTtlS: config.ROOM_TTL_S,
        ackReplicas: config.REDIS_ACK_REPLICAS,
        ackTimeoutMs: config.REDIS_ACK_TIMEOUT_MS,
        log: app.log,
      });
      const redis = broker;
      health = new BrokerHealth(
        () => redis.healthy(),
        () =>
          lastError
            ? `Redis at ${where} is unreachable (${lastError})`
            : link.ready()
              ? `Redis at ${where} is not answering`
              : `Redis at ${where} is unreachable`,
      );
      // Healthy only after its first ping: wait for it, so a reachable Redis boots as ready.
      if (!failed) await settled(health, 2000);
    }
    broker ??= new MemoryBroker({
      nodeId: config.NODE_ID,
      maxLen: config.HISTORY_MAXLEN,
      idempotencyTtlS: config.IDEMPOTENCY_TTL_S,
    });
    const active = broker;
    health ??= new BrokerHealth(
      () => active.healthy(),
      () => `the ${active.kind} broker is unavailable`,
    );
    if (active.kind === 'memory') {
      app.log.info(
        { broker: 'memory' },
        'broker ready: in-memory (history lives in this process and is lost on restart; set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES to keep it)',
      );
    } else if (health.state.ok) {
      app.log.info({ broker: active.kind }, 'broker ready');
    }
    health.onChange((state) => {
      if (state.ok) app.log.info({ broker: active.kind }, 'chat service restored: broker reachable again');
      else
        app.log.warn({ broker: active.kind, reason: state.reason }, `chat service degraded: ${state.reason}`);
    });
    app.decorate('brokerHealth', health);
    app.decorate('broker', active);
    app.addHook('onClose', async () => health.close());
    // An injected broker belongs to the caller.
    if (!opts.broker) app.addHook('onClose', async () => active.close());
  },
  { name: 'broker', dependencies: ['config'] },
);

/** Resolves once `health` is ok, or after `ms`. */
function settled(health: BrokerHealth, ms: number): Promise<void> {
  if (health.state.ok) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      off();
      clearTimeout(timer);
      resolve();
    };
    const off = health.onChange((state) => state.ok && done());
    const timer = setTimeout(done, ms);
  });
}
