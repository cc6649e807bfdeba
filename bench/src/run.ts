/**
 * The orchestrator: starts each system in turn (3 pods + its own Redis), drives the load
 * processes through the workloads, and returns every figure as one JSON document.
 */
import { randomBytes } from 'node:crypto';
import { Histogram, type Summary } from './hist.js';
import type {
  AuditResult,
  BackgroundResult,
  GroupSpec,
  OpenResult,
  RecoveryResult,
  StatsResult,
  SystemKind,
} from './load/protocol.js';
import { emptyRecovery, nowUs } from './load/protocol.js';
import { cpuOf, fdsOf, type Machine, machine, machineBusy, rssOf, sleep } from './proc.js';
import { buildEntries } from './systems/build.js';
import { describeSystem, type RunningSystem, startSystem, versions } from './systems/index.js';
import { split, Workers } from './workers.js';

export type Workload = 'fanout' | 'latency' | 'memory' | 'drain';
export const ALL_SYSTEMS: SystemKind[] = ['chat', 'socketio', 'bare'];
export const ALL_WORKLOADS: Workload[] = ['fanout', 'latency', 'memory', 'drain'];

export interface BenchConfig {
  mode: 'full' | 'smoke' | 'custom';
  systems: SystemKind[];
  workloads: Workload[];
  /** Start each workload on fresh pods (full) or share one start per system (smoke). */
  freshSystems: boolean;
  /** Load processes for fan-out, latency and drain. */
  workers: number;
  /** Pause after clients joined (presence frames settle) and before the drain audit (last deliveries). */
  settleMs: number;
  /** Concurrent connection attempts per load process. */
  connectConcurrency: number;
  textPad: number;
  fanout: {
    rooms: number;
    members: number;
    /** First step, in messages per second offered over all rooms. */
    startRate: number;
    factor: number;
    maxSteps: number;
    warmupMs: number;
    stepMs: number;
    /** How long after a step's last send its deliveries may still arrive. */
    graceMs: number;
    p99BoundMs: number;
    /** A step whose deliveries (within the grace) fall below this share of the expected ones fell behind. */
    minDeliveredRatio: number;
    /** Run a failing step once more before calling it the end (one noisy second is not the limit). */
    retryFailed: boolean;
    /** Steps that bisect between the last passing and the first failing rate after the ramp. */
    refineSteps: number;
  };
  latency: {
    /** Share of this server's fan-out peak (messages/s) used for every system. */
    fraction: number;
    /** Used when this server's peak is not measured in the same run. */
    fallbackRate: number;
    /** Runs of `durationMs` on the same pods; the one with the median p99 is reported. */
    repeats: number;
    warmupMs: number;
    durationMs: number;
  };
  memory: {
    /** Idle connections per pod for each level; 0 means the most the 20000 open-file limit allows. */
    levels: number[];
    workers: number;
    settleMs: number;
    /** RSS samples (500 ms apart) whose median is taken, before and after. */
    samples: number;
    /** Descriptors kept free in each pod below its limit. */
    fdMargin: number;
    localAddresses: string[];
  };
  drain: {
    systems: SystemKind[];
    /** Clients on the pod that is terminated. */
    clients: number;
    rooms: number;
    /** Members of each room on the other pods (they watch from outside the storm). */
    observersPerRoom: number;
    /** Background messages per second per room (one publisher per room, on the terminated pod). */
    ratePerPublisher: number;
    beforeMs: number;
    afterMs: number;
    timeoutMs: number;
  };
}

export const FULL: BenchConfig = {
  mode: 'full',
  systems: ALL_SYSTEMS,
  workloads: ALL_WORKLOADS,
  freshSystems: true,
  settleMs: 1000,
  workers: 4,
  connectConcurrency: 64,
  textPad: 64,
  fanout: {
    rooms: 30,
    members: 100,
    startRate: 100,
    factor: 1.25,
    maxSteps: 30,
    warmupMs: 1500,
    stepMs: 5000,
    graceMs: 2000,
    p99BoundMs: 100,
    minDeliveredRatio: 0.99,
    retryFailed: true,
    refineSteps: 2,
  },
  latency: { fraction: 0.5, fallbackRate: 500, repeats: 3, warmupMs: 2000, durationMs: 15000 },
  memory: {
    levels: [5000, 0],
    workers: 4,
    settleMs: 8000,
    samples: 5,
    fdMargin: 30,
    localAddresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'],
  },
  drain: {
    systems: ['chat', 'socketio'],
    clients: 5000,
    rooms: 50,
    observersPerRoom: 4,
    ratePerPublisher: 0.5,
    beforeMs: 3000,
    afterMs: 3000,
    timeoutMs: 60_000,
  },
};

/** Small sizes, all three systems, well under a minute: the CI smoke run. */
export const SMOKE: BenchConfig = {
  ...FULL,
  mode: 'smoke',
  freshSystems: false,
  settleMs: 400,
  workers: 2,
  connectConcurrency: 16,
  fanout: {
    ...FULL.fanout,
    rooms: 4,
    members: 12,
    startRate: 20,
    factor: 2,
    maxSteps: 2,
    warmupMs: 200,
    stepMs: 800,
    graceMs: 1500,
    p99BoundMs: 1000,
    retryFailed: false,
    refineSteps: 0,
  },
  latency: { ...FULL.latency, repeats: 1, warmupMs: 200, durationMs: 800, fallbackRate: 20 },
  memory: { ...FULL.memory, levels: [100], workers: 2, settleMs: 300, samples: 1 },
  drain: {
    ...FULL.drain,
    clients: 120,
    rooms: 6,
    observersPerRoom: 2,
    ratePerPublisher: 4,
    beforeMs: 300,
    afterMs: 300,
    timeoutMs: 20_000,
  },
};

export interface CpuCores {
  pods: number;
  redis: number;
  load: number;
  /** Everything else on the machine (other users' processes, the orchestrator, the kernel). */
  other?: number;
}

export interface StepResult {
  tag: number;
  offeredMsgsPerS: number;
  offeredDeliveriesPerS: number;
  sent: number;
  acked: number;
  expected: number;
  delivered: number;
  deliveredRatio: number;
  achievedDeliveriesPerS: number;
  latency: Summary;
  pass: boolean;
  cpu: CpuCores;
}

export interface FanoutResult {
  rooms: number;
  members: number;
  connections: number;
  connectMs: number;
  steps: StepResult[];
  peak: { deliveriesPerS: number; msgsPerS: number; tag: number; latency: Summary } | null;
}

export interface LatencyResult {
  msgsPerS: number;
  deliveriesPerS: number;
  /** The repeat with the median p99 (the figure reported). */
  step: StepResult;
  /** Every repeat, in order. */
  repeats?: StepResult[];
}

export interface MemoryPod {
  id: string;
  rssBefore: number;
  rssAfter: number;
  fdsBefore: number;
  fdsAfter: number;
  bytesPerConn: number;
}

export interface MemoryLevel {
  perPod: number;
  opened: number;
  failed: number;
  pods: MemoryPod[];
  meanBytesPerConn: number;
}

export interface MemoryResult {
  maxPerPod: number;
  levels: MemoryLevel[];
}

export interface DrainResult {
  clients: number;
  rooms: number;
  observers: number;
  drainExit: { code: number | null; signal: string | null; ms: number };
  allBack: boolean;
  /** SIGTERM to the moment the last client had rejoined every room on another pod. */
  allBackMs: number;
  recovered: number;
  down: number;
  gapMs: { p50: number; p99: number; max: number };
  closeCodes: Record<string, number>;
  refusedAttempts: number;
  background: BackgroundResult;
  audit: AuditResult;
}

export interface SystemResult {
  kind: SystemKind;
  label: string;
  version: string;
  fanout?: FanoutResult;
  latency?: LatencyResult;
  memory?: MemoryResult;
  drain?: DrainResult;
  errors: string[];
}

export interface BenchResult {
  mode: BenchConfig['mode'];
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  machineAfter: Machine['load'];
  versions: Record<string, string>;
  config: BenchConfig;
  systems: Partial<Record<SystemKind, SystemResult>>;
  /** Workloads measured again later and merged in (cli --merge), with when and under what load. */
  reruns?: {
    system: SystemKind;
    workload: Workload;
    at: string;
    load: string;
    why: string;
    version?: string;
  }[];
}

export type Log = (line: string, transient?: boolean) => void;

const nonce = randomBytes(3).toString('hex');

function sumStats(list: StatsResult[]): {
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

function cpuSample(
  sys: RunningSystem,
  w: Workers,
): { t: number; pods: number; redis: number; load: number; machine: number } {
  return {
    t: performance.now(),
    machine: machineBusy(),
    pods: sys.pods.reduce((n, p) => n + cpuOf(p.pid), 0),
    redis: cpuOf(sys.redisPid),
    load: w.pids.reduce((n, p) => n + cpuOf(p), 0),
  };
}

function cores(a: ReturnType<typeof cpuSample>, b: ReturnType<typeof cpuSample>): CpuCores {
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

async function openGroup(
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
  const results = await w.all<OpenResult>((i) => {
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

async function runStep(
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
  const c0 = cpuSample(sys, w);
  await publishing;
  const c1 = cpuSample(sys, w);
  const deadline = performance.now() + opts.graceMs;
  let s = sumStats(await w.all<StatsResult>({ t: 'stats', tag }));
  while (s.delivered < s.expected && performance.now() < deadline) {
    await sleep(100);
    s = sumStats(await w.all<StatsResult>({ t: 'stats', tag }));
  }
  // Let a backlog drain before the next step (it is not counted: it came after the grace).
  for (let i = 0, last = -1; i < 100; i++) {
    const now = sumStats(await w.all<StatsResult>({ t: 'stats', tag })).delivered;
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
  };
}

function stepLine(s: StepResult): string {
  return (
    `offered ${s.offeredMsgsPerS} msg/s (${s.offeredDeliveriesPerS} deliveries/s): ` +
    `delivered ${(s.deliveredRatio * 100).toFixed(1)}% = ${s.achievedDeliveriesPerS}/s, ` +
    `p50 ${s.latency.p50} ms p99 ${s.latency.p99} ms max ${s.latency.max} ms ` +
    `[cores: pods ${s.cpu.pods} redis ${s.cpu.redis} load ${s.cpu.load} other ${s.cpu.other ?? '?'}] ${s.pass ? 'ok' : 'OVER'}`
  );
}

function fanGroup(sys: RunningSystem, cfg: BenchConfig, prefix: string): Omit<GroupSpec, 'from' | 'to'> {
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

export async function fanout(sys: RunningSystem, cfg: BenchConfig, log: Log): Promise<FanoutResult> {
  const f = cfg.fanout;
  const w = await Workers.start(cfg.workers);
  try {
    const spec = fanGroup(sys, cfg, 'fan');
    const opened = await openGroup(w, spec, cfg.connectConcurrency, log, 'fan-out');
    if (opened.failed > 0) throw new Error(`fan-out: ${opened.failed} clients failed: ${opened.firstError}`);
    log(`fan-out: ${opened.opened} clients in ${f.rooms} rooms of ${f.members} (${opened.ms} ms)`);
    await sleep(cfg.settleMs);
    const steps: StepResult[] = [];
    const run = async (rate: number, what: string): Promise<StepResult> => {
      const n = steps.length + 1;
      log(`fan-out ${what} ${n}: offering ${Math.round(rate)} msg/s x ${f.members} members...`, true);
      const step = await runStep(sys, w, n, rate, { ...f, durationMs: f.stepMs, rooms: f.rooms });
      steps.push(step);
      log(`fan-out ${what} ${n}: ${stepLine(step)}`);
      return step;
    };
    // A failing step is run once more before it counts (one noisy second is not the limit).
    const runTwiceIfFailing = async (rate: number, what: string): Promise<boolean> =>
      (await run(rate, what)).pass || (f.retryFailed && (await run(rate, what)).pass);
    let rate = f.startRate;
    let lastPass = 0;
    let failedAt = 0;
    while (steps.length < f.maxSteps) {
      if (!(await runTwiceIfFailing(rate, 'step'))) {
        failedAt = rate;
        break;
      }
      lastPass = rate;
      rate *= f.factor;
    }
    // Then narrow the gap between the last passing and the failing rate (geometric bisection).
    for (let k = 0; k < f.refineSteps && lastPass > 0 && failedAt > 0; k++) {
      const mid = Math.sqrt(lastPass * failedAt);
      if (await runTwiceIfFailing(mid, 'refine')) lastPass = mid;
      else failedAt = mid;
    }
    const best = steps
      .filter((s) => s.pass)
      .reduce<StepResult | undefined>(
        (b, s) => (!b || s.achievedDeliveriesPerS > b.achievedDeliveriesPerS ? s : b),
        undefined,
      );
    return {
      rooms: f.rooms,
      members: f.members,
      connections: opened.opened,
      connectMs: opened.ms,
      steps,
      peak: best
        ? {
            deliveriesPerS: best.achievedDeliveriesPerS,
            msgsPerS: best.offeredMsgsPerS,
            tag: best.tag,
            latency: best.latency,
          }
        : null,
    };
  } finally {
    await w.all({ t: 'closeAll' }).catch(() => {});
    await w.stop();
  }
}

export async function latency(
  sys: RunningSystem,
  cfg: BenchConfig,
  msgsPerS: number,
  log: Log,
): Promise<LatencyResult> {
  const w = await Workers.start(cfg.workers);
  try {
    const spec = fanGroup(sys, cfg, 'lat');
    const opened = await openGroup(w, spec, cfg.connectConcurrency, log, 'latency');
    if (opened.failed > 0) throw new Error(`latency: ${opened.failed} clients failed: ${opened.firstError}`);
    await sleep(cfg.settleMs);
    const repeats: StepResult[] = [];
    for (let i = 1; i <= cfg.latency.repeats; i++) {
      log(
        `latency ${i}/${cfg.latency.repeats}: ${Math.round(msgsPerS)} msg/s for ${cfg.latency.durationMs / 1000} s...`,
        true,
      );
      const step = await runStep(sys, w, i, msgsPerS, {
        rooms: cfg.fanout.rooms,
        warmupMs: cfg.latency.warmupMs,
        durationMs: cfg.latency.durationMs,
        graceMs: cfg.fanout.graceMs,
        p99BoundMs: cfg.fanout.p99BoundMs,
        minDeliveredRatio: cfg.fanout.minDeliveredRatio,
      });
      log(`latency ${i}/${cfg.latency.repeats}: ${stepLine(step)}`);
      repeats.push(step);
    }
    // The repeat with the median p99 stands for the run (one GC pause or neighbour does not).
    const sorted = [...repeats].sort((a, b) => a.latency.p99 - b.latency.p99);
    const step = sorted[Math.floor((sorted.length - 1) / 2)] ?? repeats[0];
    if (!step) throw new Error('latency: no repeat ran');
    return { msgsPerS: Math.round(msgsPerS), deliveriesPerS: step.offeredDeliveriesPerS, step, repeats };
  } finally {
    await w.all({ t: 'closeAll' }).catch(() => {});
    await w.stop();
  }
}

async function sampleRss(pids: (number | undefined)[], samples: number, everyMs: number): Promise<number[]> {
  const all: number[][] = pids.map(() => []);
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(everyMs);
    for (const [j, pid] of pids.entries()) all[j]?.push(rssOf(pid));
  }
  return all.map((xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] ?? 0;
  });
}

export async function memory(sys: RunningSystem, cfg: BenchConfig, log: Log): Promise<MemoryResult> {
  const m = cfg.memory;
  const podsN = sys.pods.length;
  await sleep(Math.min(2000, m.settleMs));
  const pids = sys.pods.map((p) => p.pid);
  const fdsBefore = pids.map(fdsOf);
  const rssBefore = await sampleRss(pids, m.samples, 500);
  // Each pod's own descriptors (listening socket, Redis, epoll, stdio...) count against its limit too.
  const maxPerPod = 20000 - Math.max(...fdsBefore) - m.fdMargin;
  const levels = m.levels.map((l) => (l === 0 ? maxPerPod : Math.min(l, maxPerPod)));
  const totalMax = Math.max(...levels) * podsN;
  const workers = Math.max(m.workers, Math.ceil(totalMax / 15000));
  const w = await Workers.start(workers);
  const out: MemoryLevel[] = [];
  try {
    let perPod = 0;
    for (const level of levels) {
      const add = level - perPod;
      if (add <= 0) continue;
      const spec: Omit<GroupSpec, 'from' | 'to'> = {
        group: `mem${level}`,
        system: sys.kind,
        urls: sys.pods.map((p) => p.url),
        total: add * podsN,
        rooms: 0,
        roomPrefix: '',
        publishers: false,
        reconnect: false,
        track: false,
        ...(sys.tokenSecret ? { tokenSecret: sys.tokenSecret } : {}),
        localAddresses: m.localAddresses,
        textPad: cfg.textPad,
      };
      const opened = await openGroup(w, spec, cfg.connectConcurrency, log, `memory ${level}/pod`);
      perPod = level;
      log(`memory: ${level} idle connections per pod open (${opened.failed} failed); settling...`, true);
      await sleep(m.settleMs);
      const rssAfter = await sampleRss(pids, m.samples, 500);
      const pods: MemoryPod[] = sys.pods.map((p, i) => {
        const before = rssBefore[i] ?? 0;
        const after = rssAfter[i] ?? 0;
        return {
          id: p.id,
          rssBefore: before,
          rssAfter: after,
          fdsBefore: fdsBefore[i] ?? 0,
          fdsAfter: fdsOf(p.pid),
          bytesPerConn: Math.round((after - before) / level),
        };
      });
      const mean = Math.round(pods.reduce((n, p) => n + p.bytesPerConn, 0) / pods.length);
      out.push({ perPod: level, opened: opened.opened, failed: opened.failed, pods, meanBytesPerConn: mean });
      log(
        `memory: ${level} per pod: ${(mean / 1024).toFixed(2)} KiB per idle connection ` +
          `(${pods.map((p) => `${p.id} ${(p.bytesPerConn / 1024).toFixed(2)}`).join(', ')}; ` +
          `fds ${pods.map((p) => p.fdsAfter).join('/')}; failed ${opened.failed})`,
      );
    }
  } finally {
    await w.all({ t: 'closeAll' }).catch(() => {});
    await w.stop();
  }
  return { maxPerPod, levels: out };
}

export async function drain(sys: RunningSystem, cfg: BenchConfig, log: Log): Promise<DrainResult> {
  const d = cfg.drain;
  const [victim, ...others] = sys.pods;
  if (!victim || others.length === 0) throw new Error('drain needs at least two pods');
  const otherUrls = others.map((p) => p.url);
  const w = await Workers.start(cfg.workers);
  try {
    await w.all({ t: 'reconnectUrls', urls: otherUrls });
    const base = {
      system: sys.kind,
      rooms: d.rooms,
      roomPrefix: `${nonce}-drain-`,
      track: true,
      reconnect: true,
      ...(sys.tokenSecret ? { tokenSecret: sys.tokenSecret } : {}),
      textPad: cfg.textPad,
    };
    const v = await openGroup(
      w,
      { ...base, group: 'victims', urls: [victim.url], total: d.clients, publishers: true },
      cfg.connectConcurrency,
      log,
      `drain: clients on ${victim.id}`,
    );
    const o = await openGroup(
      w,
      {
        ...base,
        group: 'observers',
        urls: otherUrls,
        total: d.rooms * d.observersPerRoom,
        publishers: false,
      },
      cfg.connectConcurrency,
      log,
      'drain: observers',
    );
    if (v.failed + o.failed > 0)
      throw new Error(`drain: ${v.failed + o.failed} clients failed: ${v.firstError ?? o.firstError}`);
    log(`drain: ${v.opened} clients on ${victim.id}, ${o.opened} observers on the other pods`);
    await sleep(cfg.settleMs);
    await w.all({ t: 'startBackground', tag: 1, ratePerPublisher: d.ratePerPublisher });
    await sleep(d.beforeMs);
    const t0 = nowUs();
    log(`drain: SIGTERM ${victim.id} holding ${v.opened} clients`);
    const exiting = sys.terminate(victim.id);
    let rec: RecoveryResult = emptyRecovery();
    const deadline = performance.now() + d.timeoutMs;
    while (performance.now() < deadline) {
      await sleep(250);
      rec = mergeRecovery(await w.all<RecoveryResult>({ t: 'recovery', group: 'victims' }));
      const elapsed = ((nowUs() - t0) / 1e6).toFixed(1);
      log(`drain: ${elapsed} s: ${rec.recovered}/${v.opened} back on other pods, ${rec.down} down`, true);
      if (rec.recovered >= v.opened) break;
    }
    const exit = await exiting;
    log(`drain: ${victim.id} exited ${exit.code ?? exit.signal} after ${exit.ms} ms`);
    await sleep(d.afterMs);
    const bgs = await w.all<BackgroundResult>({ t: 'stopBackground', waitAcksMs: 10_000 });
    await sleep(cfg.settleMs * 1.5);
    const ackedParts = await w.all<Record<string, string[]>>({ t: 'acked' });
    const acked: Record<string, string[]> = {};
    for (const part of ackedParts)
      for (const [room, ids] of Object.entries(part)) acked[room] = [...(acked[room] ?? []), ...ids];
    const audits = await w.all<AuditResult>({ t: 'audit', acked, since: 0 });
    const audit: AuditResult = { lost: 0, duplicates: 0, checked: 0, lostSamples: [], duplicateSamples: [] };
    for (const a of audits) {
      audit.lost += a.lost;
      audit.duplicates += a.duplicates;
      audit.checked += a.checked;
      audit.lostSamples.push(...a.lostSamples.slice(0, 10 - audit.lostSamples.length));
      audit.duplicateSamples.push(...a.duplicateSamples.slice(0, 10 - audit.duplicateSamples.length));
    }
    const background: BackgroundResult = { sent: 0, acked: 0, unacked: 0, resent: 0 };
    for (const b of bgs) {
      background.sent += b.sent;
      background.acked += b.acked;
      background.unacked += b.unacked;
      background.resent += b.resent;
    }
    const gaps = rec.gapsUs;
    const q = (p: number) =>
      Math.round((gaps[Math.min(gaps.length - 1, Math.ceil(p * gaps.length) - 1)] ?? 0) / 1000);
    return {
      clients: v.opened,
      rooms: d.rooms,
      observers: o.opened,
      drainExit: exit,
      allBack: rec.recovered >= v.opened,
      allBackMs: rec.lastRejoinUs > 0 ? Math.round((rec.lastRejoinUs - t0) / 1000) : -1,
      recovered: rec.recovered,
      down: rec.down,
      gapMs: { p50: q(0.5), p99: q(0.99), max: q(1) },
      closeCodes: rec.closeCodes,
      refusedAttempts: rec.refused,
      background,
      audit,
    };
  } finally {
    await w.all({ t: 'closeAll' }).catch(() => {});
    await w.stop();
  }
}

function mergeRecovery(list: RecoveryResult[]): RecoveryResult {
  const out = emptyRecovery();
  for (const r of list) {
    out.clients += r.clients;
    out.recovered += r.recovered;
    out.down += r.down;
    out.reconnectAttempts += r.reconnectAttempts;
    out.refused += r.refused;
    if (r.firstCloseUs > 0 && (out.firstCloseUs === 0 || r.firstCloseUs < out.firstCloseUs))
      out.firstCloseUs = r.firstCloseUs;
    out.lastRejoinUs = Math.max(out.lastRejoinUs, r.lastRejoinUs);
    out.gapsUs.push(...r.gapsUs);
    for (const [c, n] of Object.entries(r.closeCodes)) out.closeCodes[c] = (out.closeCodes[c] ?? 0) + n;
  }
  out.gapsUs.sort((a, b) => a - b);
  return out;
}

/** Runs every selected workload against every selected system and returns the raw figures. */
export async function runBench(
  cfg: BenchConfig,
  log: (system: string, line: string, transient?: boolean) => void,
): Promise<BenchResult> {
  await buildEntries();
  const started = new Date().toISOString();
  const result: BenchResult = {
    mode: cfg.mode,
    startedAt: started,
    finishedAt: '',
    machine: machine(),
    machineAfter: { one: 0, five: 0, fifteen: 0, uptime: '' },
    versions: versions(),
    config: cfg,
    systems: {},
  };
  const sysResult = async (kind: SystemKind): Promise<SystemResult> => {
    let r = result.systems[kind];
    if (!r) {
      r = { kind, ...describeSystem(kind), errors: [] };
      result.systems[kind] = r;
    }
    return r;
  };
  const attempt = async (kind: SystemKind, what: string, fn: (r: SystemResult) => Promise<void>) => {
    const r = await sysResult(kind);
    try {
      await fn(r);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      r.errors.push(`${what}: ${msg}`);
      log(kind, `${what} FAILED: ${msg}`);
    }
  };
  const order = ALL_WORKLOADS.filter((w) => cfg.workloads.includes(w));
  for (const kind of cfg.systems) {
    let shared: RunningSystem | undefined;
    const l: Log = (line, t) => log(kind, line, t);
    try {
      for (const workload of order) {
        if (workload === 'drain' && !cfg.drain.systems.includes(kind)) continue;
        await attempt(kind, workload, async (r) => {
          // Full runs start every workload on fresh pods (an overload step leaves queues and
          // garbage behind); the smoke run shares one start per system to stay fast.
          if (cfg.freshSystems && shared) {
            await shared.stop();
            shared = undefined;
          }
          shared ??= await startSystem(kind);
          const sys = shared;
          switch (workload) {
            case 'fanout':
              r.fanout = await fanout(sys, cfg, l);
              l(
                `fan-out peak: ${r.fanout.peak ? `${r.fanout.peak.deliveriesPerS} deliveries/s` : 'none within the bound'}`,
              );
              return;
            case 'latency': {
              const peak = result.systems.chat?.fanout?.peak?.msgsPerS;
              const rate = peak ? peak * cfg.latency.fraction : cfg.latency.fallbackRate;
              r.latency = await latency(sys, cfg, rate, l);
              return;
            }
            case 'memory':
              r.memory = await memory(sys, cfg, l);
              return;
            case 'drain': {
              r.drain = await drain(sys, cfg, l);
              const d = r.drain;
              l(
                `drain: all back ${d.allBack ? `in ${d.allBackMs} ms` : 'NO'}; lost ${d.audit.lost}, ` +
                  `duplicates ${d.audit.duplicates} of ${d.audit.checked} checked; acked ${d.background.acked}`,
              );
              // A pod is gone: never reuse this system.
              await sys.stop();
              shared = undefined;
              return;
            }
          }
        });
      }
    } finally {
      await shared?.stop().catch((err: unknown) => l(`stopping failed: ${String(err)}`));
    }
  }
  result.finishedAt = new Date().toISOString();
  result.machineAfter = machine().load;
  return result;
}
