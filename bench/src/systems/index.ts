import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Cluster, DEFAULT_SERVER_ENTRY, freePort, RedisServer, startCluster } from '@chat/cluster';
import type { SystemKind } from '../load/protocol.js';
import { sleep, track } from '../proc.js';
import { distFile } from './build.js';

export interface PodRef {
  id: string;
  pid: number | undefined;
  port: number;
  /** What a load client connects to. */
  url: string;
}

export interface PodExitInfo {
  code: number | null;
  signal: string | null;
  ms: number;
}

export interface RunningSystem {
  kind: SystemKind;
  label: string;
  version: string;
  pods: PodRef[];
  redisPid: number | undefined;
  tokenSecret: string | undefined;
  /** SIGTERM one pod (the chat server drains; the others do what they do) and wait for its exit. */
  terminate(id: string): Promise<PodExitInfo>;
  stop(): Promise<void>;
}

export interface StartOptions {
  pods?: number;
  /** Extra environment for the pods (e.g. NODE_OPTIONS=--cpu-prof for the profile run). */
  env?: Record<string, string>;
  /** SIGTERM the pods and wait for their exit on stop. */
  gracefulStop?: boolean;
  /** Another entry for the chat pods (the profile run wraps the server bundle). */
  serverEntry?: string;
}

const require = createRequire(import.meta.url);
function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

export function versions(): Record<string, string> {
  return {
    'socket.io': versionOf('socket.io'),
    '@socket.io/redis-adapter': versionOf('@socket.io/redis-adapter'),
    'socket.io-client': versionOf('socket.io-client'),
    ws: versionOf('ws'),
    ioredis: versionOf('ioredis'),
  };
}

function chatVersion(): string {
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    commit = 'unknown';
  }
  const server = fileURLToPath(new URL('../../../apps/server/package.json', import.meta.url));
  const v = (JSON.parse(readFileSync(server, 'utf8')) as { version: string }).version;
  // The bundle that actually runs (the bench does not build it): its hash and build time.
  const bundle = process.env.BENCH_CHAT_SERVER ?? DEFAULT_SERVER_ENTRY;
  let build = 'bundle missing';
  try {
    const hash = createHash('sha256').update(readFileSync(bundle)).digest('hex').slice(0, 12);
    build = `dist sha256 ${hash}, built ${statSync(bundle).mtime.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  } catch {
    // reported as missing
  }
  return `@chat/server ${v} (HEAD ${commit}; ${build}), fastify + @fastify/websocket (ws), ioredis`;
}

/** Settings of this server for a benchmark: limits meant for humans raised out of the way. */
export const CHAT_BENCH_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_S: '1000000',
  RATE_LIMIT_BURST: '1000000',
  USER_RATE_LIMIT_PER_S: '1000000',
  USER_RATE_LIMIT_BURST: '1000000',
  RATE_LIMIT_CLOSE_AFTER: '1000000',
  MAX_CONNECTIONS: '1000000',
  HEARTBEAT_MS: '600000',
  IDEMPOTENCY_TTL_S: '3600',
};

async function startChat(opts: StartOptions): Promise<RunningSystem> {
  const cluster: Cluster = await startCluster({
    pods: opts.pods ?? 3,
    env: { ...CHAT_BENCH_ENV, ...opts.env },
    controlApi: false,
    replaceKilled: false,
    // BENCH_CHAT_SERVER runs another build of the server (a before/after comparison).
    ...(opts.serverEntry || process.env.BENCH_CHAT_SERVER
      ? { serverEntry: opts.serverEntry ?? process.env.BENCH_CHAT_SERVER }
      : {}),
    logLevel: 'warn',
  });
  const pods = (): PodRef[] =>
    cluster.pods().map((p) => ({ id: p.id, pid: p.pid, port: p.port, url: `ws://127.0.0.1:${p.port}/ws` }));
  return {
    kind: 'chat',
    ...describeSystem('chat'),
    pods: pods(),
    redisPid: cluster.redis.pid,
    tokenSecret: cluster.tokenSecret,
    async terminate(id) {
      const pod = cluster.podHandles().find((p) => p.id === id);
      if (!pod) throw new Error(`no pod ${id}`);
      pod.routable = false; // out of the endpoints first, as Kubernetes does
      const started = performance.now();
      const exit = await pod.terminate('SIGTERM');
      return { code: exit.code, signal: exit.signal, ms: Math.round(performance.now() - started) };
    },
    async stop() {
      await cluster.stop({ graceful: opts.gracefulStop ?? false });
    },
  };
}

interface Spawned {
  id: string;
  port: number;
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Redis (the harness's RedisServer: same settings as the chat cluster's) + N processes of `entry`. */
async function startPlain(
  kind: 'socketio' | 'bare',
  entry: string,
  opts: StartOptions,
): Promise<RunningSystem> {
  const dir = mkdtempSync(join(tmpdir(), `chat-bench-${kind}-`));
  const redis = new RedisServer({ dir: join(dir, 'redis') });
  await redis.start();
  const tokenSecret = randomBytes(24).toString('hex');
  const spawned: Spawned[] = [];
  const startOne = async (i: number): Promise<Spawned> => {
    const id = `${kind}-${i + 1}`;
    const port = await freePort();
    const log = openSync(join(dir, `${id}.log`), 'a');
    const proc = track(
      fork(entry, [], {
        env: {
          ...process.env,
          ...opts.env,
          PORT: String(port),
          REDIS_URL: redis.url,
          TOKEN_SECRET: tokenSecret,
          NODE_ID: id,
        },
        stdio: ['ignore', log, log, 'ipc'],
      }),
    );
    closeSync(log);
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} not ready in 20 s`)), 20_000);
      proc.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      void exited.then((e) => {
        clearTimeout(timer);
        reject(new Error(`${id} exited (${e.code ?? e.signal}) before it was ready; log in ${dir}`));
      });
    });
    proc.disconnect(); // the IPC channel was only for "ready"
    return { id, port, proc, exited };
  };
  try {
    for (let i = 0; i < (opts.pods ?? 3); i++) spawned.push(await startOne(i));
  } catch (err) {
    for (const s of spawned) s.proc.kill('SIGKILL');
    await redis.kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = (port: number) => (kind === 'socketio' ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}`);
  return {
    kind,
    ...describeSystem(kind),
    pods: spawned.map((s) => ({ id: s.id, pid: s.proc.pid, port: s.port, url: url(s.port) })),
    redisPid: redis.pid,
    tokenSecret,
    async terminate(id) {
      const s = spawned.find((p) => p.id === id);
      if (!s) throw new Error(`no pod ${id}`);
      const started = performance.now();
      s.proc.kill('SIGTERM');
      const e = await s.exited;
      return { ...e, ms: Math.round(performance.now() - started) };
    },
    async stop() {
      await Promise.all(
        spawned.map(async (s) => {
          if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
          s.proc.kill(opts.gracefulStop ? 'SIGTERM' : 'SIGKILL');
          const timer = setTimeout(() => s.proc.kill('SIGKILL'), 10_000);
          await s.exited;
          clearTimeout(timer);
        }),
      );
      await redis.kill();
      await sleep(50);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function describeSystem(kind: SystemKind): { label: string; version: string } {
  const v = versions();
  if (kind === 'chat') return { label: 'this server', version: chatVersion() };
  if (kind === 'socketio')
    return {
      label: 'Socket.IO + redis-adapter',
      version: `socket.io ${v['socket.io']}, @socket.io/redis-adapter ${v['@socket.io/redis-adapter']}`,
    };
  return { label: 'bare ws + ioredis', version: `ws ${v.ws}, ioredis ${v.ioredis}` };
}

export function startSystem(kind: SystemKind, opts: StartOptions = {}): Promise<RunningSystem> {
  if (kind === 'chat') return startChat(opts);
  if (kind === 'socketio') return startPlain('socketio', distFile('socketio-server'), opts);
  return startPlain('bare', distFile('bare-server'), opts);
}
