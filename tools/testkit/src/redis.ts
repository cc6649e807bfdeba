import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { trackChild } from './children.js';
import { freePort, until } from './net.js';

export type RedisState = 'stopped' | 'running' | 'paused';

export interface RedisOptions {
  /** Data dir (append-only file, pidfile, log). Kept across stop/start so data survives. */
  dir: string;
  /** 0 picks a free port once; restarts reuse it. */
  port?: number;
  /** redis-server binary (default: `redis-server` on PATH). */
  bin?: string;
  startTimeoutMs?: number;
  /** More redis-server arguments (`--replicaof`, `--requirepass`, `--maxmemory` ...). */
  args?: string[];
}

/**
 * A private redis-server: its own port, dir and pidfile, never the machine's shared Redis.
 * `--appendonly yes --appendfsync always` makes every acknowledged write durable across a
 * stop/start, which is what the zero-loss tests rely on.
 */
export class RedisServer {
  readonly dir: string;
  readonly logFile: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private paused = false;
  private _port: number;
  private readonly bin: string;
  private readonly startTimeoutMs: number;
  private readonly args: string[];

  constructor(opts: RedisOptions) {
    this.dir = opts.dir;
    this.logFile = join(opts.dir, 'redis.log');
    this._port = opts.port ?? 0;
    this.bin = opts.bin ?? 'redis-server';
    this.startTimeoutMs = opts.startTimeoutMs ?? 10_000;
    this.args = opts.args ?? [];
    mkdirSync(this.dir, { recursive: true });
  }

  get port(): number {
    return this._port;
  }
  get url(): string {
    return `redis://127.0.0.1:${this._port}`;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get state(): RedisState {
    if (!this.proc) return 'stopped';
    return this.paused ? 'paused' : 'running';
  }

  /** Starts redis-server (same port and dir as before) and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.proc) return;
    if (!this._port) this._port = await freePort();
    const proc = spawn(
      this.bin,
      [
        '--port',
        String(this._port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--pidfile',
        join(this.dir, 'redis.pid'),
        '--logfile',
        this.logFile,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
        '--daemonize',
        'no',
        ...this.args,
      ],
      { stdio: 'ignore', detached: true },
    );
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
    });
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    this.proc = proc;
    this.paused = false;
    void this.exited.then(() => {
      if (this.proc === proc) this.proc = undefined;
    });
    if (proc.pid !== undefined) trackChild(proc);
    try {
      await until(
        async () => {
          if (spawnError)
            throw new Error(`cannot start ${this.bin}: ${spawnError.message} (is Redis installed?)`);
          if (proc.exitCode !== null)
            throw new Error(`redis-server exited with ${proc.exitCode}; see ${this.logFile}`);
          return redisAnswers(this._port);
        },
        `redis-server on port ${this._port} answering PING`,
        this.startTimeoutMs,
      );
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  /** Graceful stop (SIGTERM) and wait for the exit; the append-only file keeps acked writes. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    if (this.paused) this.resume();
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL, for teardown. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGKILL');
    await this.exited;
  }

  /** SIGSTOP: the process stays, sockets stay open, nothing answers (a hung Redis). */
  pause(): void {
    if (!this.proc || this.paused) return;
    this.proc.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.proc || !this.paused) return;
    this.proc.kill('SIGCONT');
    this.paused = false;
  }
}

/** Whether a Redis (or Sentinel) on the port answers PING: PONG, or NOAUTH when it wants a password. */
export function redisAnswers(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG') || buf.startsWith('-NOAUTH'));
    });
  });
}
