import Fastify from 'fastify';
import app from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { trustProxyOption } from './config-security.js';
import { loggerOptions } from './logging.js';

/**
 * The process: configuration, listening, and the drain on SIGTERM/SIGINT. The order on SIGTERM
 * is readiness 503 at once, new upgrades 503, sockets closed 1012 spread over the drain
 * window, in-flight sends acked, broker closed, exit 0; a second signal or the deadline forces
 * the exit.
 */
/** pnpm and npm report a script they saw Ctrl-C during as failed, even when it exited 0. */
const CTRL_C_NOTE =
  'Stopped cleanly (exit 0). A following "ELIFECYCLE Command failed" line is pnpm or npm saying it was interrupted too; nothing went wrong.';

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
    ...loggerOptions(config),
    trustProxy: trustProxyOption(config.TRUST_PROXY),
    // Upgraded sockets are closed by the drain; plain keep-alive ones must not hold close().
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  });
  await fastify.register(app, { config, defaultMetrics: true, metricsListener: true });

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
      if (signal === 'SIGINT' && process.stdout.isTTY && process.env.npm_lifecycle_event) {
        process.stdout.write(`\n  ${CTRL_C_NOTE}\n\n`);
      }
      process.exit(0);
    } catch (err) {
      fastify.log.error({ err }, 'drain failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  let address: string;
  try {
    address = await fastify.listen({ port: config.PORT, host: config.HOST });
  } catch (err) {
    const line = listenError(err, config);
    if (!line) throw err;
    process.stderr.write(`${line}\n`);
    process.exit(1);
  }
  try {
    await fastify.listenMetrics();
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'in use' : String(err);
    process.stderr.write(
      `chat: cannot serve metrics on port ${config.METRICS_PORT} (METRICS_PORT=${config.METRICS_PORT}): ${why}; set METRICS_PORT to a free port\n`,
    );
    process.exit(1);
  }
  const shown = address.replace('0.0.0.0', 'localhost').replace('[::]', 'localhost');
  fastify.log.info({ node: config.NODE_ID, broker: fastify.broker.kind }, `chat ready at ${shown}`);
  if (process.stdout.isTTY) {
    const health = fastify.brokerHealth.state;
    const warning = health.ok
      ? ''
      : `  Chat service degraded: ${health.reason}; messages wait until it answers\n`;
    process.stdout.write(`\n  Chat is running: open ${shown}\n${warning}\n`);
  }
}

/** One line for the mistakes people make (a taken port, a mistyped HOST), naming the variable. */
function listenError(err: unknown, config: Pick<Config, 'PORT' | 'HOST'>): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EADDRINUSE':
      return `chat: port ${config.PORT} is in use (PORT=${config.PORT}); stop the other process or set PORT to a free port, e.g. PORT=8081`;
    case 'EACCES':
      return `chat: not allowed to listen on port ${config.PORT} (PORT=${config.PORT}); use a port above 1023`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return `chat: cannot listen on HOST=${config.HOST} (${code}: not an address of this machine); use HOST=0.0.0.0 (all interfaces) or HOST=127.0.0.1`;
    default:
      return undefined;
  }
}

void main();
