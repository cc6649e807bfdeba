import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DIR_PREFIX,
  type RedisServer,
  type RedisState,
  reapOrphans,
  releaseDir,
  trackDir,
  writeOwners,
} from '@chat/testkit';
import { Balancer, type BalancerOptions } from './balancer.js';
import { controlHandler } from './control.js';
import { type ClusterEvents, nextEvent, type RollResult } from './events.js';
import { type KillResult, Operations } from './operations.js';
import { type ClusterOptions, podEnv, type ResolvedOptions, resolveOptions } from './options.js';
import type { Pod, PodExit, PodInfo } from './pod.js';
import { PrometheusServer, type ScrapeTarget } from './prometheus.js';
import { RedisTier } from './redis-tier.js';
import { ReplicaSet, type Target } from './replica-set.js';
import { followPods, scrapeTargets } from './scraping.js';

export interface ClusterState {
  url: string;
  dir: string;
  redis: { url: string; port: number; pid: number | undefined; state: RedisState };
  prometheus?: { url: string; pid: number | undefined };
  pods: PodInfo[];
  /** Most recent first, at most 50. */
  exited: PodExit[];
  busy: boolean;
  balancer: Balancer['stats'];
}

/**
 * Redis + N server processes + a load balancer, shaped like a Deployment behind a Service.
 * Create it with `startCluster()`. Every child process is killed on `stop()`, and also when
 * the parent exits, throws, or gets SIGINT/SIGTERM.
 */
export class Cluster extends EventEmitter<ClusterEvents> {
  readonly dir: string;
  readonly logDir: string;
  /** One Redis, a Sentinel set or a Redis Cluster (`redis` option). */
  readonly redisTier: RedisTier;
  readonly balancer: Balancer;
  /** Scraping every pod (with `prometheus: true`); its targets follow the pod set. */
  readonly prometheus: PrometheusServer | undefined;
  /** The one TOKEN_SECRET of every pod, so a token from one pod is valid on all. */
  readonly tokenSecret = randomBytes(24).toString('hex');
  private readonly opts: ResolvedOptions;
  private readonly replicaSet: ReplicaSet;
  private readonly ops: Operations;
  private stopped: Promise<void> | undefined;

  /** Use startCluster(). */
  constructor(options: ClusterOptions = {}) {
    super();
    this.opts = resolveOptions(options);
    reapOrphans();
    this.dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
    this.logDir = join(this.dir, 'logs');
    mkdirSync(this.logDir);
    this.redisTier = new RedisTier(this.opts.redis, join(this.dir, 'redis'), this.opts.redisBin);
    this.replicaSet = new ReplicaSet(
      { ...this.opts, logDir: this.logDir, env: () => this.podEnv() },
      this,
      this.opts.pods,
    );
    this.ops = new Operations(this.replicaSet, this, this.opts);
    if (this.opts.prometheus) {
      this.prometheus = new PrometheusServer({
        dir: join(this.dir, 'prometheus'),
        bin: this.opts.prometheusBin,
        scrapeIntervalS: this.opts.scrapeIntervalS,
      });
      followPods(this.prometheus, this, () => this.replicaSet.live, this.opts.namespace);
    }
    trackDir(this.dir, () =>
      [...this.redisTier.pids(), this.prometheus?.pid, ...this.replicaSet.live.map((p) => p.pid)].filter(
        (p) => p !== undefined,
      ),
    );
    const lb: BalancerOptions = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      upgradeAttempts: this.opts.upgradeAttempts,
      backends: () => this.replicaSet.endpoints(),
    };
    if (this.opts.controlApi) lb.control = controlHandler(this);
    this.balancer = new Balancer(lb);
    this.balancer.on('backendError', ({ backend }) =>
      this.replicaSet.live.find((p) => p.id === backend)?.markUnready(),
    );
    this.balancer.on('retry', (r) => this.emit('lb:retry', r));
  }

  /** The Redis node the Redis controls act on (see RedisTier). */
  get redis(): RedisServer {
    return this.redisTier.server;
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
    return this.ops.busy;
  }

  /** Starts Redis, the balancer and the pods; resolves when every pod is ready. */
  async start(): Promise<this> {
    if (!existsSync(this.opts.serverEntry)) {
      throw new Error(`${this.opts.serverEntry} not found: run \`pnpm build\` at the repository root first`);
    }
    try {
      await this.redisTier.start();
      this.emit('redis:start');
      writeOwners();
      await this.balancer.listen();
      await this.prometheus?.start();
      await Promise.all(Array.from({ length: this.replicaSet.replicas }, () => this.replicaSet.startPod()));
      return this;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  pods(): PodInfo[] {
    return this.replicaSet.live.map((p) => p.info());
  }

  /** Pods an HPA would count (not terminating), by name. */
  podNames(): string[] {
    return this.replicaSet.live
      .filter((p) => p.phase === 'starting' || p.phase === 'running')
      .map((p) => p.id);
  }

  /** The live Pod objects (events, log tail, signals); prefer the cluster's methods. */
  podHandles(): readonly Pod[] {
    return this.replicaSet.live;
  }

  state(): ClusterState {
    return {
      url: this.url,
      dir: this.dir,
      redis: { url: this.redis.url, port: this.redis.port, pid: this.redis.pid, state: this.redis.state },
      ...(this.prometheus ? { prometheus: { url: this.prometheus.url, pid: this.prometheus.pid } } : {}),
      pods: this.pods(),
      exited: this.replicaSet.exited.slice(-50).reverse(),
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
    return this.ops.roll(opts);
  }

  /**
   * kill -9 a pod (by id or index in pods(); default: the one with the most connections).
   * Its sockets die without a close frame. With `replace` (default replaceKilled) a new pod is
   * started and awaited, as a ReplicaSet would.
   */
  killPod(target?: Target, opts: { replace?: boolean } = {}): Promise<KillResult> {
    return this.ops.killPod(target, opts);
  }

  /** Graceful delete of one pod (endpoint removal, preStop, SIGTERM, exit), optionally replaced. */
  deletePod(target: Target, opts: { replace?: boolean } = {}): Promise<KillResult> {
    return this.ops.deletePod(target, opts);
  }

  /** Sends a raw signal to a pod, with no balancer change (it stays routable until its probe fails). */
  signalPod(target: Target, signal: NodeJS.Signals): void {
    this.ops.signalPod(target, signal);
  }

  /** Puts a pod in or out of the balancer's endpoints. */
  setRoutable(target: Target, routable: boolean): void {
    this.ops.setRoutable(target, routable);
  }

  /**
   * Scales to `replicas`: new pods start in parallel; removed pods drain, the emptiest first
   * (the pod-deletion-cost of the chart, mirrored), then the newest.
   */
  scale(replicas: number): Promise<PodInfo[]> {
    return this.ops.scale(replicas);
  }

  /** Desired replicas (spec.replicas): set at once by scale(), while pods still start or drain. */
  get replicas(): number {
    return this.replicaSet.replicas;
  }

  /** Resolves when every live pod is ready. */
  async waitReady(timeoutMs = this.opts.readyTimeoutMs): Promise<void> {
    await Promise.all(this.replicaSet.live.map((p) => p.waitReady(timeoutMs)));
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
    return nextEvent(this, event, pred, timeoutMs);
  }

  /**
   * Stops everything: the balancer (cutting its tunnels), every pod (SIGKILL, or a parallel
   * drain with `graceful`), Redis; then removes the temp dir. Idempotent; resolves once every
   * child process has exited.
   */
  stop(opts: { graceful?: boolean } = {}): Promise<void> {
    this.stopped ??= (async () => {
      this.replicaSet.closing = true;
      const pods = [...this.replicaSet.live];
      if (opts.graceful) {
        for (const p of pods) p.routable = false;
        await Promise.all(pods.map((p) => this.replicaSet.terminateWithGrace(p)));
      }
      await Promise.all([
        this.balancer.close().catch(() => {}),
        this.prometheus?.kill(),
        ...pods.map((p) => p.kill()),
      ]);
      await this.redisTier.stop(opts.graceful === true);
      releaseDir(this.dir, !this.opts.keepDir);
    })();
    return this.stopped;
  }

  /** Every pod that has a process (starting, running or draining), labelled as on Kubernetes. */
  scrapeTargets(): ScrapeTarget[] {
    return scrapeTargets(this.replicaSet.live, this.opts.namespace);
  }

  private podEnv(): Record<string, string> {
    return podEnv(
      { redis: this.redisTier.env(), tokenSecret: this.tokenSecret, origins: this.origins },
      this.opts,
    );
  }
}

/** Starts a cluster (Redis, balancer, pods all ready). Always `await cluster.stop()` when done. */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  return new Cluster(options).start();
}
