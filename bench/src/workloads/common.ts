/** What the workloads share: opening client groups, one measured publishing step, CPU samples. */
import { randomBytes } from 'node:crypto';
import type { BenchConfig } from '../config.js';
import { Histogram } from '../hist.js';
import type { GroupSpec, OpenResult, StatsResult } from '../load/protocol.js';
import { cpuOf, machineBusy, sleep } from '../proc.js';
import type { CpuCores, Log, StepResult } from '../results.js';
import type { RedisNodeCpu, RunningSystem } from '../systems/index.js';
import { split, type Workers } from '../workers.js';

export const nonce = randomBytes(3).toString('hex');

export function sumStats(list: StatsResult[]): {
  hist: Histogram;
  delivered: number;
  sent: number;
  acked: number;
  expected: number;
} {
  const hist = new Histogram();
  let delivered = 0;
  let sent = 0;
  let acked = 0;
  let expected = 0;
  for (const s of list) {
    hist.merge(s.hist);
    delivered += s.delivered;
    sent += s.sent;
    acked += s.acked;
    expected += s.expected;
  }
  return { hist, delivered, sent, acked, expected };
}

export function cpuSample(
  sys: RunningSystem,
  w: Workers,
): { t: number; pods: number; redis: number; load: number; machine: number } {
  return {
    t: performance.now(),
    machine: machineBusy(),
    pods: sys.pods.reduce((n, p) => n + cpuOf(p.pid), 0),
    redis: (sys.redisPids ?? [sys.redisPid]).reduce<number>((n, p) => n + cpuOf(p), 0),
    load: w.pids.reduce((n, p) => n + cpuOf(p), 0),
  };
}

export function cores(a: ReturnType<typeof cpuSample>, b: ReturnType<typeof cpuSample>): CpuCores {
  const s = (b.t - a.t) / 1000;
  const r = (x: number) => Math.round((x / s) * 100) / 100;
  const ours = b.pods - a.pods + (b.redis - a.redis) + (b.load - a.load);
  return {
    pods: r(b.pods - a.pods),
    redis: r(b.redis - a.redis),
    load: r(b.load - a.load),
    other: Math.max(0, r(b.machine - a.machine - ours)),
  };
}

export async function openGroup(
  w: Workers,
  spec: Omit<GroupSpec, 'from' | 'to'>,
  concurrency: number,
  log: Log,
  label: string,
): Promise<OpenResult> {
  const ranges = split(spec.total, w.size);
  const done = new Array<number>(w.size).fill(0);
  w.onProgress = (p, i) => {
    if (p.group !== spec.group) return;
    done[i] = p.done;
    log(`${label}: connected ${done.reduce((a, b) => a + b, 0)}/${spec.total}`, true);
  };
  const results = await w.all((i) => {
    const [from, to] = ranges[i] ?? [0, 0];
    return { t: 'open', spec: { ...spec, from, to }, concurrency };
  });
  w.onProgress = undefined;
  const sum: OpenResult = { opened: 0, failed: 0, joined: 0, ms: 0 };
  for (const r of results) {
    sum.opened += r.opened;
    sum.failed += r.failed;
    sum.joined += r.joined;
    sum.ms = Math.max(sum.ms, r.ms);
    sum.firstError ??= r.firstError;
  }
  return sum;
}

export async function runStep(
  sys: RunningSystem,
  w: Workers,
  tag: number,
  msgsPerS: number,
  opts: {
    rooms: number;
    warmupMs: number;
    durationMs: number;
    graceMs: number;
    p99BoundMs: number;
    minDeliveredRatio: number;
  },
): Promise<StepResult> {
  const publishing = w.all({
    t: 'publish',
    tag,
    ratePerPublisher: msgsPerS / opts.rooms,
    warmupMs: opts.warmupMs,
    durationMs: opts.durationMs,
  });
  await sleep(opts.warmupMs);
  const n0 = await sys.redisNodeCpu?.();
  const c0 = cpuSample(sys, w);
  await publishing;
  const c1 = cpuSample(sys, w);
  const n1 = await sys.redisNodeCpu?.();
  const deadline = performance.now() + opts.graceMs;
  let s = sumStats(await w.all({ t: 'stats', tag }));
  while (s.delivered < s.expected && performance.now() < deadline) {
    await sleep(100);
    s = sumStats(await w.all({ t: 'stats', tag }));
  }
  // Let a backlog drain before the next step (it is not counted: it came after the grace).
  for (let i = 0, last = -1; i < 100; i++) {
    const now = sumStats(await w.all({ t: 'stats', tag })).delivered;
    if (now === last) break;
    last = now;
    await sleep(300);
  }
  const seconds = opts.durationMs / 1000;
  const latency = s.hist.summary();
  const deliveredRatio = s.expected === 0 ? 0 : s.delivered / s.expected;
  return {
    tag,
    offeredMsgsPerS: Math.round(msgsPerS),
    offeredDeliveriesPerS: Math.round(s.expected / seconds),
    sent: s.sent,
    acked: s.acked,
    expected: s.expected,
    delivered: s.delivered,
    deliveredRatio: Math.round(deliveredRatio * 10000) / 10000,
    achievedDeliveriesPerS: Math.round(s.delivered / seconds),
    latency,
    pass: s.delivered > 0 && latency.p99 <= opts.p99BoundMs && deliveredRatio >= opts.minDeliveredRatio,
    cpu: cores(c0, c1),
    ...(n0 && n1 ? { redisNodes: nodeCosts(n0, n1, (c1.t - c0.t) / 1000, msgsPerS) } : {}),
  };
}

/**
 * What each Redis node spent over the window, as cores and as CPU microseconds per message
 * offered in it (every message is one append on one primary; replicas apply its replication).
 */
function nodeCosts(
  before: RedisNodeCpu[],
  after: RedisNodeCpu[],
  seconds: number,
  msgsPerS: number,
): NonNullable<StepResult['redisNodes']> {
  return after.map((a) => {
    const spent = a.cpuS - (before.find((b) => b.port === a.port)?.cpuS ?? a.cpuS);
    return {
      port: a.port,
      role: a.role,
      cores: Math.round((spent / seconds) * 1000) / 1000,
      cpuUsPerMsg: Math.round(((spent * 1e6) / Math.max(1, msgsPerS * seconds)) * 10) / 10,
    };
  });
}

export function stepLine(s: StepResult): string {
  return (
    `offered ${s.offeredMsgsPerS} msg/s (${s.offeredDeliveriesPerS} deliveries/s): ` +
    `delivered ${(s.deliveredRatio * 100).toFixed(1)}% = ${s.achievedDeliveriesPerS}/s, ` +
    `p50 ${s.latency.p50} ms p99 ${s.latency.p99} ms max ${s.latency.max} ms ` +
    `[cores: pods ${s.cpu.pods} redis ${s.cpu.redis} load ${s.cpu.load} other ${s.cpu.other ?? '?'}] ${s.pass ? 'ok' : 'OVER'}`
  );
}

export function fanGroup(
  sys: RunningSystem,
  cfg: BenchConfig,
  prefix: string,
): Omit<GroupSpec, 'from' | 'to'> {
  return {
    group: prefix,
    system: sys.kind,
    urls: sys.pods.map((p) => p.url),
    total: cfg.fanout.rooms * cfg.fanout.members,
    rooms: cfg.fanout.rooms,
    roomPrefix: `${nonce}-${prefix}-`,
    publishers: true,
    reconnect: false,
    track: false,
    ...(sys.tokenSecret ? { tokenSecret: sys.tokenSecret } : {}),
    textPad: cfg.textPad,
  };
}
