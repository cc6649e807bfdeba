import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /** Starts the metrics listener (after the public port listens); resolves with its URL. */
    listenMetrics(): Promise<string>;
  }
}

/**
 * /metrics on its own plain-HTTP listener (METRICS_PORT), never on the public port: the
 * gateway routes only the public port, so metrics are reachable inside the cluster only. It
 * serves GET /metrics and nothing else.
 */
export default fp(
  async (app) => {
    const { config, metrics } = app;
    const server: Server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        (err: unknown) => {
          app.log.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
    });
    server.headersTimeout = config.HANDSHAKE_TIMEOUT_MS;
    server.requestTimeout = Math.max(config.HANDSHAKE_TIMEOUT_MS, 30_000);
    app.decorate('listenMetrics', async () => {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.METRICS_PORT, config.HOST, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const { address, port } = server.address() as AddressInfo;
      const host = address.includes(':') ? `[${address}]` : address;
      const url = `http://${host}:${port}/metrics`;
      app.log.info(`metrics at ${url}`);
      return url;
    });
    app.addHook('onClose', async () => {
      if (!server.listening) return;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
  },
  { name: 'metrics-listener', dependencies: ['config', 'metrics'] },
);
