/**
 * Systems (d) and (e): Centrifugo v6, the Go peer, as 3 nodes on one Redis (its Redis engine),
 * built once from its published Go module by scripts/ensure-centrifugo.sh into .tools/bin.
 * (d) plain channels: a publish is a Redis PUBLISH, nothing is kept. (e) history and recovery
 * on (`history_size`, `history_ttl`, `force_recovery`): a publish is appended to the channel's
 * Redis stream and published, and a client coming back resubscribes from its last offset and
 * gets what it missed: the match for this server's durable rooms.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { SystemKind } from '../load/protocol.js';
import { sleep } from '../proc.js';
import { LABELS } from './labels.js';
import { type LaunchContext, readyOrExit, startPods } from './pods.js';
import type { RunningSystem, StartOptions } from './types.js';

export const CENTRIFUGO_VERSION = 'v6.9.1';
const ENSURE = fileURLToPath(new URL('../../../scripts/ensure-centrifugo.sh', import.meta.url));
const run = promisify(execFile);

export type CentrifugoKind = Extract<SystemKind, 'centrifugo' | 'centrifugo-recovery'>;

/** The same limits as this server's rooms: 1,000 messages kept per room (HISTORY_MAXLEN). */
export const HISTORY = { size: 1000, ttl: '3600s' } as const;

let binary: Promise<{ path: string; version: string }> | undefined;

/**
 * The binary (built on first use; the script is idempotent and fast when it is there) and its
 * version line. Building takes a few minutes the first time; the script says so on stderr.
 */
export function centrifugoBinary(): Promise<{ path: string; version: string }> {
  binary ??= (async () => {
    const { stdout } = await run('bash', [ENSURE], {
      env: { ...process.env, CENTRIFUGO_VERSION },
      maxBuffer: 1 << 20,
      timeout: 30 * 60_000,
    }).catch((err: unknown) => {
      binary = undefined;
      const e = err as { stderr?: string; message?: string };
      throw new Error(`scripts/ensure-centrifugo.sh failed: ${e.stderr?.trim() || e.message}`);
    });
    const path = stdout.trim().split('\n').at(-1) ?? '';
    const v = (await run(path, ['version'])).stdout.trim();
    return { path, version: v };
  })();
  return binary;
}

/** A node's configuration (written as JSON into the system's temp dir). */
export function centrifugoConfig(kind: CentrifugoKind, ctx: LaunchContext): Record<string, unknown> {
  const recovery = kind === 'centrifugo-recovery';
  return {
    http_server: { address: '127.0.0.1', port: ctx.port },
    log: { level: 'warn' },
    engine: { type: 'redis', redis: { address: [ctx.redisUrl] } },
    node: { name: ctx.id },
    client: {
      // The same HS256 token as this server's and Socket.IO's, with the same claims checked.
      token: { hmac_secret_key: ctx.tokenSecret, audience: 'chat', issuer: 'realtime-chat' },
      allowed_origins: ['*'],
    },
    channel: {
      without_namespace: {
        allow_subscribe_for_client: true,
        allow_publish_for_subscriber: true,
        ...(recovery ? { history_size: HISTORY.size, history_ttl: HISTORY.ttl, force_recovery: true } : {}),
      },
    },
    health: { enabled: true },
    http_api: { disabled: true },
    usage_stats: { disabled: true },
  };
}

async function healthy(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function launch(kind: CentrifugoKind, bin: string, ctx: LaunchContext): Promise<ChildProcess> {
  const config = join(ctx.dir, `${ctx.id}.json`);
  writeFileSync(config, JSON.stringify(centrifugoConfig(kind, ctx), null, 2));
  const log = openSync(join(ctx.dir, `${ctx.id}.log`), 'a');
  const proc = spawn(bin, ['--config', config], {
    env: { ...process.env, ...ctx.env },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const ready = (async () => {
    const deadline = performance.now() + 20_000;
    while (!(await healthy(ctx.port))) {
      if (performance.now() > deadline) throw new Error(`${ctx.id} not healthy in 20 s`);
      await sleep(50);
    }
  })();
  try {
    await readyOrExit(proc, ready, ctx.id);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return proc;
}

export async function startCentrifugo(kind: CentrifugoKind, opts: StartOptions): Promise<RunningSystem> {
  const bin = await centrifugoBinary();
  return startPods(
    kind,
    describeCentrifugo(kind, bin.version),
    (port) => `ws://127.0.0.1:${port}/connection/websocket`,
    (ctx) => launch(kind, bin.path, ctx),
    opts,
  );
}

export function describeCentrifugo(
  kind: CentrifugoKind,
  version?: string,
): { label: string; version: string } {
  const v = version ?? `Centrifugo ${CENTRIFUGO_VERSION}`;
  const what =
    kind === 'centrifugo'
      ? 'plain channels'
      : `history_size ${HISTORY.size}, history_ttl ${HISTORY.ttl}, force_recovery`;
  return { label: LABELS[kind], version: `${v}, Redis engine, ${what}` };
}
