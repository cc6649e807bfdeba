import fp from 'fastify-plugin';
import { createMetrics, type Metrics } from '../metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

/** Prometheus metrics on a registry of this app instance, served at /metrics. */
export default fp<{ defaultMetrics?: boolean }>(
  async (app, opts) => {
    const metrics = createMetrics(app.config.NODE_ID, { defaults: opts.defaultMetrics ?? false });
    app.decorate('metrics', metrics);
    app.get('/metrics', { logLevel: 'warn' }, async (_req, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });
    app.addHook('onClose', async () => metrics.registry.clear());
  },
  { name: 'metrics', dependencies: ['config'] },
);
