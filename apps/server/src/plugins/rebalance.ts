import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import { createCommands, redisConfigured } from '../broker/redis-connect.js';
import { excessSockets, FleetCounts, fleetMean as meanOf, pickSockets } from '../ws/rebalance.js';
import { drainSockets } from '../ws/sweeps.js';

/**
 * Rebalancing (REBALANCE_ENABLED, Redis only): every REBALANCE_INTERVAL_MS this pod
 * publishes its socket count, reads the fleet's, and when it is above the mean by more than
 * the margin closes up to REBALANCE_MAX_CLOSE_RATE × interval sockets through the drain path
 * (1012 after in-flight acks, with a reconnect hint), spread at that rate. After each round it
 * waits the hint plus two intervals, so the moved clients have reconnected and every pod's
 * count is fresh before it decides again (stale counts would make it shed too many). It stops, and leaves the fleet, when the
 * pod starts draining. Its own Redis connection, so the broker's stays the broker's.
 */
export default fp(
  async (app) => {
    const { config, hub, lifecycle } = app;
    if (!config.REBALANCE_ENABLED) return;
    if (!redisConfigured(config)) {
      app.log.warn(
        'REBALANCE_ENABLED needs Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES; one process has nothing to balance): off',
      );
      return;
    }
    const registers = [app.metrics.registry];
    const closed = new Counter({
      name: 'chat_rebalance_closed_sockets_total',
      help: 'Sockets closed with 1012 to move them to emptier pods',
      registers,
    });
    const fleetMean = new Gauge({
      name: 'chat_fleet_connections_mean',
      help: 'Mean open sockets per pod across the fleet, as this pod last read it',
      registers,
    });
    const redis = createCommands(config, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 3000,
      connectionName: `chat:${config.NODE_ID}:fleet`,
      retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1000),
    });
    redis.on('error', (err: Error) => app.log.debug({ err: err.message }, 'fleet redis error'));
    await redis.connect().catch(() => {}); // retried by ioredis; a tick fails until it connects
    const interval = config.REBALANCE_INTERVAL_MS;
    const fleet = new FleetCounts(redis, config.REDIS_PREFIX, config.NODE_ID, interval * 3);
    let shedding: Promise<unknown> | undefined;
    /** After a shed, wait for the moved clients to reconnect and the counts to catch up. */
    let quietUntil = 0;
    let stopped = false;
    /** Whether the previous tick saw an excess too (see below). */
    let excessBefore = false;

    const tick = async () => {
      const counts = await fleet.publish(hub.conns.size);
      const all = [...counts.values()];
      const mean = meanOf(all);
      fleetMean.set(mean);
      if (shedding || stopped || lifecycle.draining || performance.now() < quietUntil) return;
      const excess = excessSockets(hub.conns.size, all, config.REBALANCE_MARGIN_PCT);
      // An excess counts only when two ticks in a row see it: the other pods' counts are up to one
      // interval old, and while clients arrive one by one a pod that is a few sockets ahead of
      // stale counts would shed what a moment later is its fair share.
      const confirmed = excess > 0 && excessBefore;
      excessBefore = excess > 0;
      if (!confirmed) return;
      const budget = Math.ceil((config.REBALANCE_MAX_CLOSE_RATE * interval) / 1000);
      const victims = pickSockets(hub.conns, Math.min(excess, budget));
      if (victims.length === 0) return;
      app.log.info({ own: hub.conns.size, mean: Math.round(mean), shed: victims.length }, 'rebalancing');
      const windowMs = Math.min(interval, (victims.length * 1000) / config.REBALANCE_MAX_CLOSE_RATE);
      shedding = drainSockets(victims, windowMs, config.REBALANCE_RECONNECT_HINT_MS, () =>
        closed.inc(),
      ).finally(() => {
        shedding = undefined;
        // Stale counts would make this pod shed again what is already on its way elsewhere.
        quietUntil = performance.now() + config.REBALANCE_RECONNECT_HINT_MS + 2 * interval;
      });
    };
    const timer = setInterval(() => {
      // The drain's own task runs first; leaving here takes this pod out of the mean sooner.
      if (lifecycle.draining) void leave();
      else if (!stopped) tick().catch((err: unknown) => app.log.debug({ err }, 'fleet count publish failed'));
    }, interval);
    timer.unref();

    const leave = async () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await fleet.withdraw().catch(() => {});
    };
    // A draining pod leaves the fleet first, so the others stop counting its sockets.
    lifecycle.onDrain(leave);
    app.addHook('onClose', async () => {
      await leave();
      await shedding;
      redis.disconnect();
    });
  },
  { name: 'rebalance', dependencies: ['config', 'metrics', 'lifecycle', 'realtime'] },
);
