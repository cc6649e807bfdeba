import { execFileSync, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Cluster, DEFAULT_SERVER_ENTRY, startCluster } from '@chat/cluster';
import type { SystemKind } from '../load/protocol.js';
import { distFile } from './build.js';
import { describeCentrifugo, startCentrifugo } from './centrifugo.js';
import { LABELS } from './labels.js';
import { readyOrExit, startPods } from './pods.js';
import type { PodRef, RunningSystem, StartOptions } from './types.js';

export type { PodExitInfo, PodRef, RedisNodeCpu, RunningSystem, StartOptions } from './types.js';

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
  MAX_CONNECTIONS_PER_USER: '0',
  MAX_PENDING_CONNECTIONS: '100000',
  HEARTBEAT_MS: '600000',
  IDEMPOTENCY_TTL_S: '3600',
};

async function startChat(opts: StartOptions): Promise<RunningSystem> {
  const cluster: Cluster = await startCluster({
    pods: opts.pods ?? 3,
    env: { ...CHAT_BENCH_ENV, ...opts.env },
    controlApi: false,
    replaceKilled: false,
    redis: opts.redis ?? 'single',
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
    redisPids: cluster.redisTier.pids(),
    redisNodeCpu: () => cluster.redisTier.nodeCpu(),
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

/** Socket.IO or the bare loop: N Node processes of `entry`, each tells its parent when it listens. */
function startPlain(kind: 'socketio' | 'bare', entry: string, opts: StartOptions): Promise<RunningSystem> {
  const url = (port: number) => (kind === 'socketio' ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}`);
  return startPods(
    kind,
    describeSystem(kind),
    url,
    async (ctx) => {
      const log = openSync(join(ctx.dir, `${ctx.id}.log`), 'a');
      const proc = fork(entry, [], {
        env: {
          ...process.env,
          ...ctx.env,
          PORT: String(ctx.port),
          REDIS_URL: ctx.redisUrl,
          TOKEN_SECRET: ctx.tokenSecret,
          NODE_ID: ctx.id,
        },
        stdio: ['ignore', log, log, 'ipc'],
      });
      closeSync(log);
      const ready = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${ctx.id} not ready in 20 s`)), 20_000);
        proc.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      try {
        await readyOrExit(proc, ready, ctx.id);
      } catch (err) {
        proc.kill('SIGKILL');
        throw err;
      }
      proc.disconnect(); // the IPC channel was only for "ready"
      return proc;
    },
    opts,
  );
}

export function describeSystem(kind: SystemKind): { label: string; version: string } {
  const v = versions();
  const label = LABELS[kind];
  if (kind === 'chat') return { label, version: chatVersion() };
  if (kind === 'socketio')
    return {
      label,
      version: `socket.io ${v['socket.io']}, @socket.io/redis-adapter ${v['@socket.io/redis-adapter']}`,
    };
  if (kind === 'bare') return { label, version: `ws ${v.ws}, ioredis ${v.ioredis}` };
  return describeCentrifugo(kind);
}

export function startSystem(kind: SystemKind, opts: StartOptions = {}): Promise<RunningSystem> {
  if (kind === 'chat') return startChat(opts);
  if (kind === 'socketio') return startPlain('socketio', distFile('socketio-server'), opts);
  if (kind === 'bare') return startPlain('bare', distFile('bare-server'), opts);
  return startCentrifugo(kind, opts);
}
