/**
 * The peers' "pods": N child processes on one Redis (the harness's RedisServer, the same
 * settings as the chat cluster's) in a temp dir of their own. How a process is started and
 * when it counts as ready is the system's business (`launch`); terminating one, stopping all
 * and cleaning up is shared here.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, RedisServer } from '@chat/testkit';
import type { SystemKind } from '../load/protocol.js';
import { sleep, track } from '../proc.js';
import type { RunningSystem, StartOptions } from './types.js';

export interface ProcExit {
  code: number | null;
  signal: string | null;
}

export interface LaunchContext {
  id: string;
  index: number;
  port: number;
  /** The system's temp dir (configs, logs, Redis data). */
  dir: string;
  redisUrl: string;
  redisPort: number;
  tokenSecret: string;
  env: Record<string, string> | undefined;
}

/** Starts one process; resolves once it is ready to take connections. */
export type Launch = (ctx: LaunchContext) => Promise<ChildProcess>;

interface Spawned {
  id: string;
  port: number;
  proc: ChildProcess;
  exited: Promise<ProcExit>;
}

function exitOf(proc: ChildProcess): Promise<ProcExit> {
  if (proc.exitCode !== null || proc.signalCode !== null)
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Rejects when `proc` exits before `ready` settles; `what` names it in the error. */
export function readyOrExit<T>(proc: ChildProcess, ready: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    ready,
    exitOf(proc).then((e) => {
      throw new Error(`${what} exited (${e.code ?? e.signal}) before it was ready`);
    }),
  ]);
}

export async function startPods(
  kind: SystemKind,
  describe: { label: string; version: string },
  url: (port: number) => string,
  launch: Launch,
  opts: StartOptions,
): Promise<RunningSystem> {
  const dir = mkdtempSync(join(tmpdir(), `chat-bench-${kind}-`));
  const redis = new RedisServer({ dir: join(dir, 'redis') });
  await redis.start();
  const tokenSecret = randomBytes(24).toString('hex');
  const spawned: Spawned[] = [];
  const cleanup = async () => {
    await redis.kill();
    await sleep(50);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < (opts.pods ?? 3); i++) {
      const id = `${kind}-${i + 1}`;
      const port = await freePort();
      const ctx = {
        id,
        index: i,
        port,
        dir,
        redisUrl: redis.url,
        redisPort: redis.port,
        tokenSecret,
        env: opts.env,
      };
      const proc = track(await launch(ctx));
      spawned.push({ id, port, proc, exited: exitOf(proc) });
    }
  } catch (err) {
    for (const s of spawned) s.proc.kill('SIGKILL');
    await cleanup();
    throw err instanceof Error ? new Error(`${err.message}; logs in ${dir}`) : err;
  }
  return {
    kind,
    ...describe,
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
      await cleanup();
    },
  };
}
