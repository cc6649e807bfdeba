import type { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { delay, freePort, trackChild, writeOwners } from '@chat/testkit';
import type { ClusterEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import { Pod, type PodExit } from './pod.js';

/** A pod by id, or by its index in `cluster.pods()`. */
export type Target = string | number;

export type ReplicaSetOptions = Pick<
  ResolvedOptions,
  'podPrefix' | 'serverEntry' | 'probeMs' | 'readyTimeoutMs' | 'terminationGraceMs'
> & {
  logDir: string;
  /** Read per pod: REDIS_URL and the origins exist only once Redis and the balancer listen. */
  env: () => Record<string, string>;
};

/**
 * The pod set, kept the way a ReplicaSet keeps it: the live pods, how the others ended, and
 * the desired count. It starts and retires single pods; what to start or retire when (roll,
 * kill, scale) is decided in operations.ts.
 */
export class ReplicaSet {
  /** In start order, so a roll replaces the oldest first. An exited pod leaves at once. */
  readonly live: Pod[] = [];
  readonly exited: PodExit[] = [];
  /** Set when the cluster stops, so a port clash during a start is no longer worth a retry. */
  closing = false;
  private seq = 0;

  constructor(
    private readonly opts: ReplicaSetOptions,
    private readonly events: EventEmitter<ClusterEvents>,
    /** Desired, like spec.replicas: not live.length, which still counts pods that are draining. */
    public replicas: number,
  ) {}

  /** What the balancer may route to, like a Service's ready endpoints. */
  endpoints(): Pod[] {
    return this.live.filter((p) => p.ready && p.routable && p.phase === 'running');
  }

  find(target: Target): Pod {
    const pod = typeof target === 'number' ? this.live[target] : this.live.find((p) => p.id === target);
    if (!pod)
      throw new Error(`no pod ${JSON.stringify(target)} (pods: ${this.live.map((p) => p.id).join(', ')})`);
    return pod;
  }

  busiest(): Pod {
    const candidates = this.live.filter((p) => p.phase !== 'exited');
    const pod = candidates.reduce<Pod | undefined>(
      (best, p) => (!best || p.connections > best.connections ? p : best),
      undefined,
    );
    if (!pod) throw new Error('no pod to kill');
    return pod;
  }

  /** Starts one pod (a fresh NODE_ID) and resolves once it is ready; retries a port clash. */
  async startPod(): Promise<Pod> {
    for (let attempt = 1; ; attempt++) {
      const id = `${this.opts.podPrefix}-${++this.seq}`;
      const pod = new Pod({
        id,
        port: await freePort(),
        entry: this.opts.serverEntry,
        // A server with a separate metrics listener uses it; one without ignores the variable.
        env: { ...this.opts.env(), METRICS_PORT: String(await freePort()) },
        logFile: join(this.opts.logDir, `${id}.log`),
        probeMs: this.opts.probeMs,
      });
      this.live.push(pod);
      pod.on('ready', () => this.events.emit('pod:ready', pod.info()));
      pod.on('unready', () => this.events.emit('pod:unready', pod.info()));
      pod.on('exit', (exit) => {
        const i = this.live.indexOf(pod);
        if (i >= 0) this.live.splice(i, 1);
        this.exited.push(exit);
        if (this.exited.length > 200) this.exited.splice(0, this.exited.length - 200);
        writeOwners();
        this.events.emit('pod:exit', exit);
      });
      const proc = pod.start();
      if (proc.pid !== undefined) trackChild(proc);
      this.events.emit('pod:start', pod.info());
      try {
        await pod.waitReady(this.opts.readyTimeoutMs);
        return pod;
      } catch (err) {
        await pod.kill();
        // freePort() only finds a port free at that moment; another process may take it first.
        const clash = pod.logTail().includes('EADDRINUSE');
        if (!clash || attempt >= 3 || this.closing) throw err;
      }
    }
  }

  /** Endpoint removal, preStop, SIGTERM, wait for the exit (SIGKILL after the grace period). */
  async retire(pod: Pod, preStopMs: number): Promise<PodExit> {
    if (pod.exitInfo) return pod.exitInfo;
    pod.routable = false;
    this.events.emit('pod:unroutable', pod.info());
    if (preStopMs > 0) await delay(preStopMs);
    return this.terminateWithGrace(pod);
  }

  async terminateWithGrace(pod: Pod): Promise<PodExit> {
    const grace = setTimeout(() => void pod.kill(), this.opts.terminationGraceMs);
    try {
      return await pod.terminate('SIGTERM');
    } finally {
      clearTimeout(grace);
    }
  }
}
