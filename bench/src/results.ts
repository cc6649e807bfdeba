/** The raw figures of a run, as written to results/*.json and read by the report. */
import type { BenchConfig, Workload } from './config.js';
import type { Summary } from './hist.js';
import type { AuditResult, BackgroundResult, SystemKind } from './load/protocol.js';
import type { Machine } from './proc.js';

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
  /** Per Redis node, the CPU it reports for itself (INFO cpu) over the measured window. */
  redisNodes?: { port: number; role: 'primary' | 'replica'; cores: number; cpuUsPerMsg: number }[];
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
  /** Cores busy while the level settled (pods, Redis, load processes, everything else). */
  cpu?: CpuCores;
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
  /** Cores busy from SIGTERM to all back (pods, Redis, load processes, everything else). */
  cpu?: CpuCores;
  closeCodes: Record<string, number>;
  /** Errors the clients reported during the storm, by code (`resync`: a resume not served). */
  clientErrors?: Record<string, number>;
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
