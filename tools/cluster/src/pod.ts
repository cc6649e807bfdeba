import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { httpStatus } from '@chat/testkit';

export type PodPhase = 'starting' | 'running' | 'terminating' | 'exited';

/** How a pod ended. `drainMs` is SIGTERM-to-exit when the harness sent a SIGTERM. */
export interface PodExit {
  id: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  drainMs?: number;
}

/** A snapshot of one pod, as listed by `cluster.pods()` and the control API. */
export interface PodInfo {
  id: string;
  pid: number | undefined;
  port: number;
  phase: PodPhase;
  /** Last /readyz answered 200. */
  ready: boolean;
  /** In the load balancer's endpoints (false once taken out for termination). */
  routable: boolean;
  /** WebSocket connections the load balancer has open to this pod. */
  connections: number;
  startedAt: number;
  readyAt?: number;
  exit?: PodExit;
  logFile: string;
}

export interface PodOptions {
  id: string;
  port: number;
  /** The server bundle (apps/server/dist/server.js). */
  entry: string;
  env: Record<string, string>;
  logFile: string;
  /** Interval of the /readyz probe. */
  probeMs: number;
}

export interface PodEvents {
  ready: [];
  unready: [];
  exit: [PodExit];
}

/**
 * One server process, like a pod with a readiness probe: /readyz is polled every `probeMs`
 * and `ready` follows the answer. The balancer reads `ready`, `routable` and `connections`.
 */
export class Pod extends EventEmitter<PodEvents> {
  readonly id: string;
  readonly port: number;
  readonly host = '127.0.0.1';
  readonly logFile: string;
  ready = false;
  routable = true;
  connections = 0;
  phase: PodPhase = 'starting';
  readonly startedAt = Date.now();
  readyAt: number | undefined;
  exitInfo: PodExit | undefined;
  /** Where Prometheus scrapes /metrics (set once the pod is ready; the cluster finds it). */
  metricsPort: number | undefined;
  private proc: ChildProcess | undefined;
  private termAt: number | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly exited: Promise<PodExit>;
  private resolveExit: (e: PodExit) => void = () => {};
  private readonly opts: PodOptions;

  constructor(opts: PodOptions) {
    super();
    this.opts = opts;
    this.id = opts.id;
    this.port = opts.port;
    this.logFile = opts.logFile;
    this.exited = new Promise((resolve) => {
      this.resolveExit = resolve;
    });
  }

  /** The pod's own environment (PORT and NODE_ID are added at spawn). */
  get env(): Readonly<Record<string, string>> {
    return this.opts.env;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Spawns the process (detached, logs appended to `logFile`) and starts the probe. */
  start(): ChildProcess {
    const fd = openSync(this.logFile, 'a');
    const proc = spawn(process.execPath, [this.opts.entry], {
      env: { ...process.env, ...this.opts.env, PORT: String(this.port), NODE_ID: this.id },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    this.proc = proc;
    proc.once('error', (err) => this.onExit(null, null, err));
    proc.once('exit', (code, signal) => this.onExit(code, signal));
    this.probe();
    return proc;
  }

  /** Resolves when /readyz first answers 200; rejects if the process exits first or on timeout. */
  waitReady(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('exit', onExit);
      };
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onExit = (e: PodExit) => {
        cleanup();
        reject(
          new Error(
            `pod ${this.id} exited (code ${e.code}, signal ${e.signal}) before it was ready` +
              `${e.code === 78 ? ' (bad configuration)' : ''}; log ${this.logFile}:\n${this.logTail()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `pod ${this.id} not ready within ${timeoutMs} ms; log ${this.logFile}:\n${this.logTail()}`,
          ),
        );
      }, timeoutMs);
      this.on('ready', onReady);
      this.on('exit', onExit);
      if (this.exitInfo) onExit(this.exitInfo);
    });
  }

  waitExit(): Promise<PodExit> {
    return this.exited;
  }

  /** Sends a signal (SIGTERM starts the server's drain) and resolves with the exit. */
  async terminate(signal: NodeJS.Signals = 'SIGTERM'): Promise<PodExit> {
    if (this.exitInfo) return this.exitInfo;
    if (this.phase !== 'terminating') {
      this.phase = 'terminating';
      this.termAt = performance.now();
    }
    this.proc?.kill(signal);
    return this.exited;
  }

  /** kill -9: no drain, sockets die without a close frame. */
  kill(): Promise<PodExit> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    this.proc?.kill('SIGKILL');
    return this.exited;
  }

  /** Passive outlier detection: the balancer could not connect; the next probe decides again. */
  markUnready(): void {
    this.setReady(false);
  }

  info(): PodInfo {
    return {
      id: this.id,
      pid: this.pid,
      port: this.port,
      phase: this.phase,
      ready: this.ready,
      routable: this.routable,
      connections: this.connections,
      startedAt: this.startedAt,
      ...(this.readyAt === undefined ? {} : { readyAt: this.readyAt }),
      ...(this.exitInfo ? { exit: this.exitInfo } : {}),
      logFile: this.logFile,
    };
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private probe(): void {
    if (this.exitInfo) return;
    const started = performance.now();
    void httpStatus(this.port, '/readyz', Math.max(500, this.opts.probeMs * 5)).then((status) => {
      if (this.exitInfo) return;
      this.setReady(status === 200);
      const wait = Math.max(0, this.opts.probeMs - (performance.now() - started));
      this.probeTimer = setTimeout(() => this.probe(), wait);
    });
  }

  private setReady(ready: boolean): void {
    if (ready === this.ready) return;
    this.ready = ready;
    if (ready) {
      this.readyAt ??= Date.now();
      if (this.phase === 'starting') this.phase = 'running';
      this.emit('ready');
    } else {
      this.emit('unready');
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, err?: Error): void {
    if (this.exitInfo) return;
    clearTimeout(this.probeTimer);
    if (err) {
      try {
        this.proc?.kill('SIGKILL');
      } catch {
        // never started
      }
    }
    this.setReady(false);
    this.phase = 'exited';
    this.exitInfo = {
      id: this.id,
      code,
      signal,
      ...(this.termAt === undefined ? {} : { drainMs: Math.round(performance.now() - this.termAt) }),
    };
    this.emit('exit', this.exitInfo);
    this.resolveExit(this.exitInfo);
  }
}
