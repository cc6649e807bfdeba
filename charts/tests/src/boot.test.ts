import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { IConfigMap } from 'kubernetes-models/v1';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rendered } from './fixtures.js';
import { type Manifest, ofKind, repoRoot, type Scenario } from './helm.js';

/**
 * The rendered configuration is one the server accepts: start the built server with exactly the
 * environment the chart gives a pod (ConfigMap + NODE_ID + TOKEN_SECRET), check /livez, /readyz
 * and the autoscaling gauge, then SIGTERM it and check it exits 0 before SHUTDOWN_TIMEOUT_MS.
 * Redis is left out (REDIS_URL empty: the in-memory broker); the Redis path has its own tests.
 */
const serverDir = join(repoRoot, 'apps/server');
const serverJs = join(serverDir, 'dist/server.js');
/**
 * Whether this server has the separate metrics listener (METRICS_PORT). The chart sets it either
 * way; an older server ignores it and still serves /metrics on PORT.
 */
const hasMetricsPort = readdirSync(join(serverDir, 'src'))
  .filter((f) => /^config.*\.ts$/.test(f))
  .some((f) => /^\s+METRICS_PORT:/m.test(readFileSync(join(serverDir, 'src', f), 'utf8')));

/** A free loopback port (the rendered METRICS_PORT, 9090, may be taken on a shared machine). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

beforeAll(() => {
  // `pnpm test` builds before the unit tests; build here too when run on its own.
  if (!existsSync(serverJs)) {
    const run = spawnSync(process.execPath, ['build.mjs'], { cwd: serverDir, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`building apps/server failed:\n${run.stderr}`);
  }
});

let child: ChildProcess | undefined;
afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

function podEnv(docs: Manifest[]): Record<string, string> {
  const cm = ofKind<IConfigMap>(docs, 'ConfigMap').find((c) => c.data?.DRAIN_WINDOW_MS !== undefined);
  if (!cm?.data) throw new Error('no server ConfigMap');
  return {
    ...cm.data,
    REDIS_URL: '',
    HOST: '127.0.0.1',
    PORT: '0',
    NODE_ID: 'rel-chat-7d4b9c6f5-x2k8q',
    TOKEN_SECRET: randomBytes(36).toString('base64'),
    LOG_LEVEL: 'info',
  };
}

interface Started {
  proc: ChildProcess;
  base: string;
  exited: Promise<{ code: number | null; at: number }>;
}

/** Starts the server and resolves on its `chat ready at <url>` log line (no polling). */
function start(env: Record<string, string>): Promise<Started> {
  const proc = spawn(process.execPath, ['dist/server.js'], {
    cwd: serverDir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    proc.on('exit', (code) => resolve({ code, at: performance.now() })),
  );
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      let msg = '';
      try {
        msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? '');
      } catch {
        return;
      }
      const m = /chat ready at (http:\/\/[\d.]+:\d+)/.exec(msg);
      if (m?.[1]) resolve({ proc, base: m[1], exited });
    });
    void exited.then(({ code }) => reject(new Error(`server exited (${code}) before ready:\n${stderr}`)));
  });
}

describe('the server boots with the environment the chart renders', () => {
  it.each<Scenario>(['default', 'istio-hpa', 'keda'])('%s', async (scenario) => {
    const env = podEnv(rendered(scenario));
    expect(env.METRICS_PORT).toBe('9090');
    const metricsPort = await freePort();
    env.METRICS_PORT = String(metricsPort);
    const { proc, base, exited } = await start(env);

    const live = await fetch(`${base}/livez`);
    expect(live.status).toBe(200);
    expect(((await live.json()) as { node: string }).node).toBe(env.NODE_ID);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metricsUrl = hasMetricsPort ? `http://127.0.0.1:${metricsPort}/metrics` : `${base}/metrics`;
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(/^chat_connections_active(\{[^}]*\})? 0$/m);

    const stopAt = performance.now();
    proc.kill('SIGTERM');
    const { code, at } = await exited;
    expect(code).toBe(0);
    expect(at - stopAt).toBeLessThan(Number(env.SHUTDOWN_TIMEOUT_MS));
  });
});
