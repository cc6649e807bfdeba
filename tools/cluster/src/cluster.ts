import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Balancer, type BalancerOptions } from './balancer.js';
import { DIR_PREFIX, reapOrphans, releaseDir, trackChild, trackDir, writeOwners } from './children.js';
import { controlHandler } from './control.js';
import { delay, freePort } from './net.js';
import { Pod, type PodExit, type PodInfo } from './pod.js';
import { RedisServer, type RedisState } from './redis.js';

/** apps/server/dist/server.js, seen from tools/cluster/src. */
export const DEFAULT_SERVER_ENTRY = fileURLToPath(
  new URL('../../../apps/server/dist/server.js', import.meta.url),
);

export interface ClusterOptions {
  /** Replicas (default 3). */
  pods?: number;
  /** Load balancer port; 0 (default) picks a free one. The CLI uses 8080. */
  port?: number;
  /** Load balancer interface (default 127.0.0.1; the control API answers loopback clients only). */
  host?: string;
  /** Extra environment for every pod; wins over the harness defaults (any server setting). */
  env?: Record<string, string>;
  /** Server bundle (default apps/server/dist/server.js). */
  serverEntry?: string;
  /** Pause between taking a pod out of the balancer and its SIGTERM, like a preStop sleep (200 ms). */
  preStopMs?: number;
  /** Readiness probe interval (100 ms). */
  probeMs?: number;
  /** How long a new pod may take to become ready (20 s). */
  readyTimeoutMs?: number;
  /** After a SIGTERM, SIGKILL a pod still running after this long (30 s; keep above SHUTDOWN_TIMEOUT_MS). */
  terminationGraceMs?: number;
  /** Start a replacement when a pod is killed, as a ReplicaSet would (true). */
  replaceKilled?: boolean;
  /** Tries per WebSocket upgrade across pods on 503 / refused (3). */
  upgradeAttempts?: number;
  /** LOG_LEVEL of the pods (warn). Logs go to files under `<dir>/logs`. */
  logLevel?: string;
  /** Leave the temp dir (logs, Redis data) in place on stop (false). */
  keepDir?: boolean;
  /** redis-server binary (redis-server on PATH). */
  redisBin?: string;
  /** NODE_ID prefix: pods are `<prefix>-1`, `<prefix>-2`, ... never reused (pod). */
  podPrefix?: string;
  /** Serve the control API under /__cluster/ on the balancer (true). */
  controlApi?: boolean;
}

/** One pod replaced by a roll. */
export interface RollStep {
  /** 1-based position in the roll. */
  step: number;
  total: number;
  old: string;
  new: string;
  /** How the old pod ended (code 0 = drained cleanly), with SIGTERM-to-exit time. */
  exit: PodExit;
}

export interface RollResult {
  steps: RollStep[];
  durationMs: number;
}

export interface KillResult {
  exit: PodExit;
  /** The pod started in its place (ready), when replacing. */
  replacement?: PodInfo;
}

export interface ClusterState {
  url: string;
  dir: string;
  redis: { url: string; port: number; pid: number | undefined; state: RedisState };
  pods: PodInfo[];
  /** Most recent first, at most 50. */
  exited: PodExit[];
  busy: boolean;
  balancer: Balancer['stats'];
}

export interface ClusterEvents {
  'pod:start': [PodInfo];
  'pod:ready': [PodInfo];
  'pod:unready': [PodInfo];
  /** Taken out of the balancer (endpoint removal), before its SIGTERM. */
  'pod:unroutable': [PodInfo];
  'pod:exit': [PodExit];
  'roll:start': [{ pods: string[] }];
  'roll:step': [RollStep];
  'roll:done': [RollResult];
  'redis:stop': [];
  'redis:start': [];
  'redis:pause': [];
  'redis:resume': [];
  /** Upgrade retried on another pod by the balancer. */
  'lb:retry': [{ backend: string; attempt: number; reason: string }];
}

type Target = string | number;

/**
 * Redis + N server processes + a load balancer, shaped like a Deployment behind a Service.
 * Create it with `startCluster()`. Every child process is killed on `stop()`, and also when
 * the parent exits, throws, or gets SIGINT/SIGTERM.
 */
export class Cluster extends EventEmitter<ClusterEvents> {
  readonly dir: string;
  readonly logDir: string;
  readonly redis: RedisServer;
  readonly balancer: Balancer;
  /** The one TOKEN_SECRET of every pod, so a token from one pod is valid on all. */
  readonly tokenSecret = randomBytes(24).toString('hex');
  private readonly live: Pod[] = [];
  private readonly exited: PodExit[] = [];
  private readonly opts: Required<Omit<ClusterOptions, 'port' | 'host' | 'env'>> & {
    env: Record<string, string>;
  };
  private replicas: number;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private busyCount = 0;
  private stopped: Promise<void> | undefined;

  /** Use startCluster(). */
  constructor(options: ClusterOptions = {}) {
    super();
    this.opts = {
      pods: options.pods ?? 3,
      env: options.env ?? {},
      serverEntry: options.serverEntry ?? DEFAULT_SERVER_ENTRY,
      preStopMs: options.preStopMs ?? 200,
      probeMs: options.probeMs ?? 100,
      readyTimeoutMs: options.readyTimeoutMs ?? 20_000,
      terminationGraceMs: options.terminationGraceMs ?? 30_000,
      replaceKilled: options.replaceKilled ?? true,
      upgradeAttempts: options.upgradeAttempts ?? 3,
      logLevel: options.logLevel ?? 'warn',
      keepDir: options.keepDir ?? false,
      redisBin: options.redisBin ?? 'redis-server',
      podPrefix: options.podPrefix ?? 'pod',
      controlApi: options.controlApi ?? true,
    };
    this.replicas = this.opts.pods;
    reapOrphans();
    this.dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
    this.logDir = join(this.dir, 'logs');
    mkdirSync(this.logDir);
    this.redis = new RedisServer({ dir: join(this.dir, 'redis'), bin: this.opts.redisBin });
    trackDir(this.dir, () => [this.redis.pid, ...this.live.map((p) => p.pid)].filter((p) => p !== undefined));
    const lb: BalancerOptions = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      upgradeAttempts: this.opts.upgradeAttempts,
      backends: () => this.live.filter((p) => p.ready && p.routable && p.phase === 'running'),
    };
    if (this.opts.controlApi) lb.control = controlHandler(this);
    this.balancer = new Balancer(lb);
    this.balancer.on('backendError', ({ backend }) => this.live.find((p) => p.id === backend)?.markUnready());
    this.balancer.on('retry', (r) => this.emit('lb:retry', r));
  }

  get port(): number {
    return this.balancer.port;
  }
  /** http://127.0.0.1:<port>, the address to open in a browser. */
  get url(): string {
    return `http://127.0.0.1:${this.balancer.port}`;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.balancer.port}/ws`;
  }
  /** Origins the pods accept upgrades from (the balancer's). */
  get origins(): string[] {
    return [`http://127.0.0.1:${this.port}`, `http://localhost:${this.port}`];
  }
  /** True while a roll or scale runs. */
  get busy(): boolean {
    return this.busyCount > 0;
  }

  /** Starts Redis, the balancer and the pods; resolves when every pod is ready. */
  async start(): Promise<this> {
    if (!existsSync(this.opts.serverEntry)) {
      throw new Error(`${this.opts.serverEntry} not found: run \`pnpm build\` at the repository root first`);
    }
    try {
      await this.redis.start();
      this.emit('redis:start');
      writeOwners();
      await this.balancer.listen();
      await Promise.all(Array.from({ length: this.replicas }, () => this.startPod()));
      return this;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  pods(): PodInfo[] {
    return this.live.map((p) => p.info());
  }

  /** The live Pod objects (events, log tail, signals); prefer the methods of the cluster. */
  podHandles(): readonly Pod[] {
    return this.live;
  }

  state(): ClusterState {
    return {
      url: this.url,
      dir: this.dir,
      redis: { url: this.redis.url, port: this.redis.port, pid: this.redis.pid, state: this.redis.state },
      pods: this.pods(),
      exited: this.exited.slice(-50).reverse(),
      busy: this.busy,
      balancer: { ...this.balancer.stats },
    };
  }

  /**
   * Replaces every pod, one at a time, like a Deployment with maxSurge 1 / maxUnavailable 0:
   * start the new pod, wait until it is ready, take the old one out of the balancer, wait
   * preStop, SIGTERM it and wait for its exit. Queued behind any running roll or scale.
   */
  roll(opts: { preStopMs?: number } = {}): Promise<RollResult> {
    return this.serial(async () => {
      const started = performance.now();
      const olds = [...this.live];
      this.emit('roll:start', { pods: olds.map((p) => p.id) });
      const steps: RollStep[] = [];
      for (const [i, old] of olds.entries()) {
        if (old.phase === 'exited' || old.phase === 'terminating') continue; // killed meanwhile
        const fresh = await this.startPod();
        const exit = await this.retire(old, opts.preStopMs ?? this.opts.preStopMs);
        const step: RollStep = { step: i + 1, total: olds.length, old: old.id, new: fresh.id, exit };
        steps.push(step);
        this.emit('roll:step', step);
      }
      const result = { steps, durationMs: Math.round(performance.now() - started) };
      this.emit('roll:done', result);
      return result;
    });
  }

  /**
   * kill -9 a pod (by id or index in pods(); default: the one with the most connections).
   * Its sockets die without a close frame. With `replace` (default replaceKilled) a new pod is
   * started and awaited, as a ReplicaSet would.
   */
  async killPod(target?: Target, opts: { replace?: boolean } = {}): Promise<KillResult> {
    const pod = target === undefined ? this.busiest() : this.find(target);
    const exit = await pod.kill();
    if (!(opts.replace ?? this.opts.replaceKilled)) {
      this.replicas = Math.max(0, this.replicas - 1);
      return { exit };
    }
    const replacement = await this.startPod();
    return { exit, replacement: replacement.info() };
  }

  /** Graceful delete of one pod (endpoint removal, preStop, SIGTERM, exit), optionally replaced. */
  async deletePod(target: Target, opts: { replace?: boolean } = {}): Promise<KillResult> {
    const pod = this.find(target);
    if (opts.replace) {
      const replacement = await this.startPod();
      return { exit: await this.retire(pod, this.opts.preStopMs), replacement: replacement.info() };
    }
    this.replicas = Math.max(0, this.replicas - 1);
    return { exit: await this.retire(pod, this.opts.preStopMs) };
  }

  /** Sends a raw signal to a pod, with no balancer change (it stays routable until its probe fails). */
  signalPod(target: Target, signal: NodeJS.Signals): void {
    const pod = this.find(target);
    if (signal === 'SIGTERM' || signal === 'SIGINT') void pod.terminate(signal);
    else if (pod.pid !== undefined) process.kill(pod.pid, signal);
  }

  /** Puts a pod in or out of the balancer's endpoints. */
  setRoutable(target: Target, routable: boolean): void {
    const pod = this.find(target);
    pod.routable = routable;
    if (!routable) this.emit('pod:unroutable', pod.info());
  }

  /** Scales to `replicas`: new pods start in parallel; removed pods (newest first) drain. */
  scale(replicas: number): Promise<PodInfo[]> {
    return this.serial(async () => {
      const running = this.live.filter((p) => p.phase !== 'terminating');
      this.replicas = replicas;
      if (replicas > running.length) {
        await Promise.all(Array.from({ length: replicas - running.length }, () => this.startPod()));
      } else if (replicas < running.length) {
        await Promise.all(running.slice(replicas).map((p) => this.retire(p, this.opts.preStopMs)));
      }
      return this.pods();
    });
  }

  /** Resolves when every live pod is ready. */
  async waitReady(timeoutMs = this.opts.readyTimeoutMs): Promise<void> {
    await Promise.all(this.live.map((p) => p.waitReady(timeoutMs)));
  }

  /** Graceful Redis stop (SIGTERM, wait exit); acked writes are on disk. */
  async stopRedis(): Promise<void> {
    await this.redis.stop();
    this.emit('redis:stop');
  }

  /** Starts Redis again on the same port and dir. */
  async startRedis(): Promise<void> {
    await this.redis.start();
    writeOwners();
    this.emit('redis:start');
  }

  /** SIGSTOP Redis: connections stay open and nothing answers. */
  pauseRedis(): void {
    this.redis.pause();
    this.emit('redis:pause');
  }

  resumeRedis(): void {
    this.redis.resume();
    this.emit('redis:resume');
  }

  /**
   * Resolves with the arguments of the next `event` whose arguments satisfy `pred`; rejects
   * after `timeoutMs`. Subscribe before triggering the operation you wait on.
   */
  waitFor<K extends keyof ClusterEvents>(
    event: K,
    pred: (...args: ClusterEvents[K]) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<ClusterEvents[K]> {
    return new Promise((resolve, reject) => {
      const emitter = this as EventEmitter;
      const listener = (...args: unknown[]) => {
        const typed = args as ClusterEvents[K];
        if (!pred(...typed)) return;
        clearTimeout(timer);
        emitter.off(event, listener);
        resolve(typed);
      };
      const timer = setTimeout(() => {
        emitter.off(event, listener);
        reject(new Error(`no ${event} event within ${timeoutMs} ms`));
      }, timeoutMs);
      emitter.on(event, listener);
    });
  }

  /**
   * Stops everything: the balancer (cutting its tunnels), every pod (SIGKILL, or a parallel
   * drain with `graceful`), Redis; then removes the temp dir. Idempotent; resolves once every
   * child process has exited.
   */
  stop(opts: { graceful?: boolean } = {}): Promise<void> {
    this.stopped ??= (async () => {
      const pods = [...this.live];
      if (opts.graceful) {
        for (const p of pods) p.routable = false;
        await Promise.all(pods.map((p) => this.terminateWithGrace(p)));
      }
      await Promise.all([this.balancer.close().catch(() => {}), ...pods.map((p) => p.kill())]);
      if (opts.graceful) await this.redis.stop();
      else await this.redis.kill();
      releaseDir(this.dir, !this.opts.keepDir);
    })();
    return this.stopped;
  }

  // ---- internals -------------------------------------------------------------------------

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.busyCount++;
      try {
        return await fn();
      } finally {
        this.busyCount--;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private find(target: Target): Pod {
    const pod = typeof target === 'number' ? this.live[target] : this.live.find((p) => p.id === target);
    if (!pod)
      throw new Error(`no pod ${JSON.stringify(target)} (pods: ${this.live.map((p) => p.id).join(', ')})`);
    return pod;
  }

  private busiest(): Pod {
    const candidates = this.live.filter((p) => p.phase !== 'exited');
    const pod = candidates.reduce<Pod | undefined>(
      (best, p) => (!best || p.connections > best.connections ? p : best),
      undefined,
    );
    if (!pod) throw new Error('no pod to kill');
    return pod;
  }

  /** Endpoint removal, preStop, SIGTERM, wait for the exit (SIGKILL after the grace period). */
  private async retire(pod: Pod, preStopMs: number): Promise<PodExit> {
    if (pod.exitInfo) return pod.exitInfo;
    pod.routable = false;
    this.emit('pod:unroutable', pod.info());
    if (preStopMs > 0) await delay(preStopMs);
    return this.terminateWithGrace(pod);
  }

  private async terminateWithGrace(pod: Pod): Promise<PodExit> {
    const grace = setTimeout(() => void pod.kill(), this.opts.terminationGraceMs);
    try {
      return await pod.terminate('SIGTERM');
    } finally {
      clearTimeout(grace);
    }
  }

  private podEnv(): Record<string, string> {
    return {
      HOST: '127.0.0.1',
      REDIS_URL: this.redis.url,
      TOKEN_SECRET: this.tokenSecret,
      ALLOWED_ORIGINS: this.origins.join(','),
      TRUST_PROXY: 'true',
      LOG_LEVEL: this.opts.logLevel,
      ...this.opts.env,
    };
  }

  /** Starts one pod (a fresh NODE_ID) and resolves once it is ready; retries a port clash. */
  private async startPod(): Promise<Pod> {
    for (let attempt = 1; ; attempt++) {
      const id = `${this.opts.podPrefix}-${++this.seq}`;
      const pod = new Pod({
        id,
        port: await freePort(),
        entry: this.opts.serverEntry,
        env: this.podEnv(),
        logFile: join(this.logDir, `${id}.log`),
        probeMs: this.opts.probeMs,
      });
      this.live.push(pod);
      pod.on('ready', () => this.emit('pod:ready', pod.info()));
      pod.on('unready', () => this.emit('pod:unready', pod.info()));
      pod.on('exit', (exit) => {
        const i = this.live.indexOf(pod);
        if (i >= 0) this.live.splice(i, 1);
        this.exited.push(exit);
        if (this.exited.length > 200) this.exited.splice(0, this.exited.length - 200);
        writeOwners();
        this.emit('pod:exit', exit);
      });
      const proc = pod.start();
      if (proc.pid !== undefined) trackChild(proc);
      this.emit('pod:start', pod.info());
      try {
        await pod.waitReady(this.opts.readyTimeoutMs);
        return pod;
      } catch (err) {
        await pod.kill();
        const clash = pod.logTail().includes('EADDRINUSE');
        if (!clash || attempt >= 3 || this.stopped) throw err;
      }
    }
  }
}

/** Starts a cluster (Redis, balancer, pods all ready). Always `await cluster.stop()` when done. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  return new Cluster(options).start();
}
