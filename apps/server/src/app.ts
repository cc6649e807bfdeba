import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from './config.js';
import auth from './plugins/auth.js';
import broker, { type BrokerPluginOptions } from './plugins/broker.js';
import configPlugin from './plugins/config.js';
import connGuard from './plugins/conn-guard.js';
import lifecycle from './plugins/lifecycle.js';
import metrics from './plugins/metrics.js';
import metricsListener from './plugins/metrics-listener.js';
import realtime from './plugins/realtime.js';
import rebalance from './plugins/rebalance.js';
import web from './plugins/web.js';

export interface AppOptions extends BrokerPluginOptions {
  config: Config;
  /** Process-level metrics (CPU, heap, event loop); off in tests that build many apps. */
  defaultMetrics?: boolean;
  /** Serve /metrics on its own listener at METRICS_PORT (the process does; tests read the registry). */
  metricsListener?: boolean;
  /** Serve the web app and security headers (on by default). */
  web?: boolean;
}

/**
 * The whole chat as one Fastify plugin: `server.ts` registers it on a listening instance,
 * tests register it on an instance without a port and use inject/injectWS or port 0.
 */
async function app(fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(configPlugin, { config: opts.config });
  await fastify.register(metrics, { defaultMetrics: opts.defaultMetrics ?? false });
  if (opts.metricsListener) await fastify.register(metricsListener);
  await fastify.register(broker, opts.broker ? { broker: opts.broker } : {});
  await fastify.register(lifecycle);
  await fastify.register(connGuard);
  await fastify.register(auth);
  await fastify.register(realtime);
  await fastify.register(rebalance);
  if (opts.web !== false) await fastify.register(web);
}

export default fp(app, { name: 'chat-app' });
