import fp from 'fastify-plugin';
import { createMetrics, type Metrics } from '../metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

/**
 * Prometheus metrics on a registry of this app instance. They are served by the separate
 * metrics listener (metrics-listener.ts, METRICS_PORT), not on the public port.
 */
export default fp<{ defaultMetrics?: boolean }>(
  async (app, opts) => {
    const metrics = createMetrics(app.config.NODE_ID, { defaults: opts.defaultMetrics ?? false });
    app.decorate('metrics', metrics);
    app.addHook('onClose', async () => metrics.registry.clear());
  },
  { name: 'metrics', dependencies: ['config'] },
);
