import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trackChild } from './children.js';
import { freePort, until } from './net.js';
import { RedisServer, redisAnswers } from './redis.js';
import { respCommand, respPairs } from './redis-resp.js';

export interface SentinelSetOptions {
  /** Parent dir: one sub-dir per redis-server and per sentinel. */
  dir: string;
  /** Replicas besides the primary (default 2). */
  replicas?: number;
  /** Sentinel processes (default 3, quorum = majority). */
  sentinels?: number;
  /** Name of the monitored primary (default `mymaster`). */
  name?: string;
  /** requirepass/masterauth of every redis-server (default none). */
  password?: string;
  /** Sentinel `down-after-milliseconds` (default 1000): how fast a dead primary is noticed. */
  downAfterMs?: number;
  /** Sentinel `failover-timeout` (default 3000). */
  failoverTimeoutMs?: number;
  /** More arguments for every redis-server (`--maxmemory` ...). */
  redisArgs?: string[];
  redisBin?: string;
  sentinelBin?: string;
}

interface SentinelProc {
  port: number;
  dir: string;
  proc: ChildProcess;
  exited: Promise<void>;
}

/**
 * A Sentinel-managed Redis on loopback, as production runs it: one primary, N replicas and
 * 3 `redis-sentinel` processes, each on a free port with its own dir, config and pidfile. The
 * harness can kill the primary (kill -9) or ask for a graceful failover and tell who the
 * primary is now.
 */
export class RedisSentinelSet {
  readonly name: string;
  readonly servers: RedisServer[] = [];
  private readonly sentinels: SentinelProc[] = [];
  private readonly opts: SentinelSetOptions;

  constructor(opts: SentinelSetOptions) {
    this.opts = opts;
    this.name = opts.name ?? 'mymaster';
    mkdirSync(opts.dir, { recursive: true });
  }

  /** `host:port,...` of the sentinels: the server's REDIS_SENTINELS. */
  get sentinelList(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  get sentinelPorts(): number[] {
    return this.sentinels.map((s) => s.port);
  }

  async start(): Promise<void> {
    const auth = this.opts.password
      ? ['--requirepass', this.opts.password, '--masterauth', this.opts.password]
      : [];
    // No 5 s wait for more replicas before a full sync (the default diskless-sync delay).
    const common = [...auth, '--repl-diskless-sync-delay', '0', ...(this.opts.redisArgs ?? [])];
    const primary = new RedisServer({
      dir: join(this.opts.dir, 'redis-0'),
      args: common,
      bin: this.opts.redisBin,
    });
    await primary.start();
    this.servers.push(primary);
    const replicas = this.opts.replicas ?? 2;
    for (let i = 1; i <= replicas; i++) {
      const replica = new RedisServer({
        dir: join(this.opts.dir, `redis-${i}`),
        args: [...common, '--replicaof', '127.0.0.1', String(primary.port)],
        bin: this.opts.redisBin,
      });
      await replica.start();
      this.servers.push(replica);
    }
    // Connected is not synced: a replica in the middle of its first full sync has nothing yet.
    await until(
      async () => {
        for (const replica of this.servers.slice(1)) {
          const info = await this.info(replica.port, 'replication');
          if (info.get('master_link_status') !== 'up' || info.get('master_sync_in_progress') !== '0')
            return false;
        }
        return true;
      },
      `${replicas} replica(s) in sync with the primary`,
      15_000,
    );
    for (let i = 0; i < (this.opts.sentinels ?? 3); i++) await this.startSentinel(i, primary.port);
    // Sentinels find each other and the replicas through the primary's hello channel (every
    // 2 s): a failover needs them to agree, so wait until every one knows the whole set.
    await until(
      async () => {
        for (const s of this.sentinels) {
          const m = respPairs(await respCommand(s.port, ['SENTINEL', 'MASTER', this.name]));
          if (Number(m.get('num-other-sentinels')) !== this.sentinels.length - 1) return false;
          if (Number(m.get('num-slaves')) !== replicas) return false;
        }
        return true;
      },
      'every sentinel knowing the other sentinels and the replicas',
      20_000,
      100,
    );
  }

  /** The port of the primary as the first answering sentinel reports it. */
  async primaryPort(): Promise<number> {
    for (const s of this.sentinels) {
      try {
        const reply = await respCommand(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name]);
        if (Array.isArray(reply) && reply[1] !== undefined) return Number(reply[1]);
      } catch {
        // next sentinel
      }
    }
    throw new Error('no sentinel answered');
  }

  async primary(): Promise<RedisServer> {
    const port = await this.primaryPort();
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`sentinels report an unknown primary on port ${port}`);
    return server;
  }

  /**
   * kill -9 of the current primary; resolves once the sentinels have promoted a replica and
   * it accepts writes, with the old and new primary and the time that took.
   */
  async killPrimary(timeoutMs = 30_000): Promise<{ old: RedisServer; now: RedisServer; ms: number }> {
    const old = await this.primary();
    const started = Date.now();
    await old.kill();
    const now = await this.awaitNewPrimary(old.port, timeoutMs);
    return { old, now, ms: Date.now() - started };
  }

  /** SENTINEL FAILOVER: a graceful switch (the old primary becomes a replica). */
  async failover(timeoutMs = 30_000): Promise<{ old: RedisServer; now: RedisServer; ms: number }> {
    const old = await this.primary();
    const started = Date.now();
    const reply = await respCommand(this.sentinels[0]?.port ?? 0, ['SENTINEL', 'FAILOVER', this.name]);
    if (reply instanceof Error) throw reply;
    const now = await this.awaitNewPrimary(old.port, timeoutMs);
    return { old, now, ms: Date.now() - started };
  }

  /** INFO <section> of one server as a map. */
  async info(port: number, section: string): Promise<Map<string, string>> {
    const reply = await respCommand(port, ['INFO', section], { password: this.opts.password });
    const map = new Map<string, string>();
    if (typeof reply !== 'string') return map;
    for (const line of reply.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) map.set(line.slice(0, i), line.slice(i + 1));
    }
    return map;
  }

  async destroy(): Promise<void> {
    await Promise.all(
      this.sentinels.map(async (s) => {
        s.proc.kill('SIGKILL');
        await s.exited;
      }),
    );
    await Promise.all(this.servers.map((s) => s.kill()));
  }

  private async awaitNewPrimary(oldPort: number, timeoutMs: number): Promise<RedisServer> {
    let found: RedisServer | undefined;
    await until(
      async () => {
        const port = await this.primaryPort().catch(() => oldPort);
        if (port === oldPort) return false;
        const server = this.servers.find((s) => s.port === port);
        if (!server) return false;
        const role = (await this.info(port, 'replication').catch(() => new Map())).get('role');
        if (role !== 'master') return false;
        found = server;
        return true;
      },
      'the sentinels promoting a replica',
      timeoutMs,
      50,
    );
    if (!found) throw new Error('no new primary');
    return found;
  }

  private async startSentinel(i: number, primaryPort: number): Promise<void> {
    const dir = join(this.opts.dir, `sentinel-${i}`);
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const conf = join(dir, 'sentinel.conf');
    // Sentinel rewrites its config file (it records what it learns), so each has its own.
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `pidfile ${join(dir, 'sentinel.pid')}`,
        `logfile ${join(dir, 'sentinel.log')}`,
        'daemonize no',
        `sentinel monitor ${this.name} 127.0.0.1 ${primaryPort} ${Math.floor((this.opts.sentinels ?? 3) / 2) + 1}`,
        `sentinel down-after-milliseconds ${this.name} ${this.opts.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${this.name} ${this.opts.failoverTimeoutMs ?? 3000}`,
        `sentinel parallel-syncs ${this.name} 1`,
        ...(this.opts.password ? [`sentinel auth-pass ${this.name} ${this.opts.password}`] : []),
        '',
      ].join('\n'),
    );
    const proc = spawn(this.opts.sentinelBin ?? 'redis-sentinel', [conf], {
      stdio: 'ignore',
      detached: true,
    });
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    if (proc.pid !== undefined) trackChild(proc);
    this.sentinels.push({ port, dir, proc, exited });
    await until(
      async () => {
        if (spawnError) throw new Error(`cannot start redis-sentinel: ${spawnError.message}`);
        if (proc.exitCode !== null)
          throw new Error(`redis-sentinel exited with ${proc.exitCode}; see ${join(dir, 'sentinel.log')}`);
        return redisAnswers(port);
      },
      `redis-sentinel on port ${port} answering PING`,
      10_000,
    );
  }
}
