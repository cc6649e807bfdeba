import Fastify, { type FastifyInstance } from 'fastify';
import app, { type AppOptions } from '../src/app.js';
import { loadConfig } from '../src/config.js';

export const SECRET = 'test-secret-that-is-at-least-32-characters-long';

/** Polls until a predicate holds (for hooks, where expect.poll is not available). */
export { until } from '@chat/testkit';

export interface RunningApp {
  app: FastifyInstance;
  url: string;
  wsUrl: string;
  token(name?: string, opts?: { rooms?: string[]; ttlS?: number }): string;
  close(): Promise<void>;
}

/** A real app on a real port (127.0.0.1:0), configured through the same env parsing as prod. */
export async function startApp(
  env: Record<string, string> = {},
  extra: Omit<AppOptions, 'config'> = {},
): Promise<RunningApp> {
  const config = loadConfig({
    TOKEN_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    HEARTBEAT_MS: '60000',
    ALLOWED_ORIGINS: 'http://allowed.example',
    // Every test client comes from 127.0.0.1: the per-IP limits are tested where they are set.
    DEV_TOKEN_RATE_PER_MIN: '1000000',
    MAX_CONNECTIONS_PER_IP: '0',
    ...env,
  });
  const fastify = Fastify({ logger: { level: config.LOG_LEVEL } });
  await fastify.register(app, { config, web: false, ...extra });
  const address = await fastify.listen({ port: 0, host: '127.0.0.1' });
  return {
    app: fastify,
    url: address,
    wsUrl: `${address.replace('http', 'ws')}/ws`,
    token: (name = 'tester', opts = {}) => fastify.tokens.issue(name, opts).token,
    close: () => fastify.close(),
  };
}

/** The bare protocol client shared with the cluster harness's and the e2e tests. */
export { clientMsgId as randomId, ProtocolClient as TestClient } from '@chat/testkit';

import { fetchToken } from '@chat/testkit';

export interface ServerProcess {
  url: string;
  wsUrl: string;
  token(name?: string): Promise<string>;
  /** The text of the server's /metrics (on its metrics listener). */
  metrics(): Promise<string>;
  /** Resident memory of the server process, from its own /metrics. */
  rss(): Promise<number>;
  alive(): boolean;
  signal(sig: NodeJS.Signals): void;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** The real server as its own process (via tsx): for memory figures and "stays up" checks. */
export async function spawnServer(env: Record<string, string>): Promise<ServerProcess> {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: new URL('..', import.meta.url),
    env: {
      ...process.env,
      PORT: '0',
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      TOKEN_SECRET: SECRET,
      DEV_TOKEN_RATE_PER_MIN: '1000000',
      MAX_CONNECTIONS_PER_IP: '0',
      ...env,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let url = '';
  let metricsUrl = '';
  // Never leave a child behind: kill it if it does not come up in time.
  const startTimer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  for await (const line of createInterface({ input: proc.stdout })) {
    const metricsLine = /metrics at (http:\/\/[^"\s]+)/.exec(line);
    if (metricsLine?.[1]) metricsUrl = metricsLine[1];
    const m = /chat ready at (http:\/\/[^"\s]+)/.exec(line);
    if (m?.[1]) {
      url = m[1];
      break;
    }
  }
  clearTimeout(startTimer);
  proc.stdout.resume(); // keep draining logs so the child never blocks on a full pipe
  if (!url) {
    proc.kill('SIGKILL');
    throw new Error('server process did not start');
  }
  return {
    url,
    wsUrl: `${url.replace('http', 'ws')}/ws`,
    token: (name = 'tester') => fetchToken(url, name),
    metrics: async () => (await fetch(metricsUrl)).text(),
    async rss() {
      const text = await (await fetch(metricsUrl)).text();
      const m = /^process_resident_memory_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
      if (!m?.[1]) throw new Error('no process_resident_memory_bytes in /metrics');
      return Number(m[1]);
    },
    alive: () => proc.exitCode === null,
    signal: (sig) => void proc.kill(sig),
    exited,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}
