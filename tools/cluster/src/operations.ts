import type { EventEmitter } from 'node:events';
import type { ClusterEvents, RollResult, RollStep } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { Pod, PodExit, PodInfo } from './pod.js';
import type { ReplicaSet, Target } from './replica-set.js';

export interface KillResult {
  exit: PodExit;
  /** The pod started in its place (ready), when replacing. */
  replacement?: PodInfo;
}

/**
 * What a Deployment controller and an operator do to the pod set: roll, kill, delete, scale.
 * Roll and scale each read the pod list once and act on it for a while, so they run one at a
 * time; kill and delete do not queue, because a fault has to be able to land mid-roll.
 */
export class Operations {
  private queue: Promise<unknown> = Promise.resolve();
  private busyCount = 0;

  constructor(
    private readonly pods: ReplicaSet,
    private readonly events: EventEmitter<ClusterEvents>,
    private readonly opts: Pick<ResolvedOptions, 'preStopMs' | 'replaceKilled'>,
  ) {}

  get busy(): boolean {
    return this.busyCount > 0;
  }

  roll(opts: { preStopMs?: number } = {}): Promise<RollResult> {
    return this.serial(async () => {
      const started = performance.now();
      const olds = [...this.pods.live];
      this.events.emit('roll:start', { pods: olds.map((p) => p.id) });
      const steps: RollStep[] = [];
      for (const [i, old] of olds.entries()) {
        if (old.phase === 'exited' || old.phase === 'terminating') continue; // killed meanwhile
        const fresh = await this.pods.startPod();
        const exit = await this.pods.retire(old, opts.preStopMs ?? this.opts.preStopMs);
        const step: RollStep = { step: i + 1, total: olds.length, old: old.id, new: fresh.id, exit };
        steps.push(step);
        this.events.emit('roll:step', step);
      }
      const result = { steps, durationMs: Math.round(performance.now() - started) };
      this.events.emit('roll:done', result);
      return result;
    });
  }

  async killPod(target?: Target, opts: { replace?: boolean } = {}): Promise<KillResult> {
    const pod = target === undefined ? this.pods.busiest() : this.pods.find(target);
    const exit = await pod.kill();
    if (!(opts.replace ?? this.opts.replaceKilled)) {
      this.pods.replicas = Math.max(0, this.pods.replicas - 1);
      return { exit };
    }
    const replacement = await this.pods.startPod();
    return { exit, replacement: replacement.info() };
  }

  async deletePod(target: Target, opts: { replace?: boolean } = {}): Promise<KillResult> {
    const pod = this.pods.find(target);
    if (opts.replace) {
      // Surge first, as a Deployment would: capacity never dips below the replica count.
      const replacement = await this.pods.startPod();
      return { exit: await this.pods.retire(pod, this.opts.preStopMs), replacement: replacement.info() };
    }
    this.pods.replicas = Math.max(0, this.pods.replicas - 1);
    return { exit: await this.pods.retire(pod, this.opts.preStopMs) };
  }

  signalPod(target: Target, signal: NodeJS.Signals): void {
    const pod = this.pods.find(target);
    // Through the Pod, so it is marked terminating and its drain time is recorded.
    if (signal === 'SIGTERM' || signal === 'SIGINT') void pod.terminate(signal);
    else if (pod.pid !== undefined) process.kill(pod.pid, signal);
  }

  setRoutable(target: Target, routable: boolean): void {
    const pod = this.pods.find(target);
    pod.routable = routable;
    if (!routable) this.events.emit('pod:unroutable', pod.info());
  }

  /**
   * Sets the desired count at once (like writing spec.replicas; an autoscaler reads it back
   * while the pods start or drain), then starts or retires pods. Scale-in removes pods in the
   * ReplicaSet's order: not ready first, then the lowest pod-deletion-cost (see
   * `deletionOrder`: the emptiest pod), then the newest.
   */
  scale(replicas: number): Promise<PodInfo[]> {
    this.pods.replicas = replicas;
    return this.serial(async () => {
      const running = this.pods.live.filter((p) => p.phase !== 'terminating' && p.phase !== 'exited');
      this.pods.replicas = replicas;
      if (replicas > running.length) {
        await Promise.all(Array.from({ length: replicas - running.length }, () => this.pods.startPod()));
      } else if (replicas < running.length) {
        const victims = [...running].sort(deletionOrder).slice(0, running.length - replicas);
        await Promise.all(victims.map((p) => this.pods.retire(p, this.opts.preStopMs)));
      }
      return this.pods.live.map((p) => p.info());
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.busyCount++;
      try {
        return await fn();
      } finally {
        this.busyCount--;
      }
    });
    // A failed roll must not block the next one.
    this.queue = run.catch(() => {});
    return run;
  }
}

/**
 * The harness's `controller.kubernetes.io/pod-deletion-cost`: the pod's open connections, so
 * the emptiest pod has the lowest cost and is removed first (fewest sockets to drain).
 */
export function deletionCost(pod: Pick<Pod, 'connections'>): number {
  return pod.connections;
}

/** The ReplicaSet controller's ranking, reduced to what the harness has: unready, cost, age. */
export function deletionOrder(a: Pod, b: Pod): number {
  if (a.ready !== b.ready) return a.ready ? 1 : -1;
  const cost = deletionCost(a) - deletionCost(b);
  if (cost !== 0) return cost;
  return b.startedAt - a.startedAt;
}
