import Fastify from 'fastify';
import app from './app.js';
import { ConfigError, loadConfig } from './config.js';

/**
 * The process: configuration, listening, and the drain on SIGTERM/SIGINT. The order on SIGTERM
 * is readiness 503 at once, new upgrades 503, sockets closed 1012 spread over the drain
 * window, in-flight sends acked, broker closed, exit 0; a second signal or the deadline forces
 * the exit.
 */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }

  const fastify = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      redact: ['req.headers.authorization', 'req.headers["sec-websocket-protocol"]', 'req.headers.cookie'],
    },
    trustProxy: config.TRUST_PROXY,
    // Upgraded sockets are closed by the drain; plain keep-alive ones must not hold close().
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  await fastify.register(app, { config, defaultMetrics: true });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      fastify.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    const deadline = setTimeout(() => {
      fastify.log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'drain deadline passed: exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    fastify.log.info({ signal }, 'draining');
    try {
      await fastify.lifecycle.drain();
      await fastify.close();
      fastify.log.info('drained, exiting');
      process.exit(0);
    } catch (err) {
      fastify.log.error({ err }, 'drain failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  const address = await fastify.listen({ port: config.PORT, host: config.HOST });
  const shown = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
  fastify.log.info({ node: config.NODE_ID, broker: fastify.broker.kind }, `chat ready at ${shown}`);
  if (process.stdout.isTTY) process.stdout.write(`\n  Chat is running: open ${shown}\n\n`);
}

void main();
