/** What a run measures and at which sizes: the full run and the CI smoke run. */
import { SYSTEM_KINDS, type SystemKind } from './load/protocol.js';

export type Workload = 'fanout' | 'latency' | 'memory' | 'drain';
export const ALL_SYSTEMS: SystemKind[] = [...SYSTEM_KINDS];
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
    systems: ['chat', 'socketio', 'bare', 'centrifugo', 'centrifugo-recovery'],
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
    // Waited only while deliveries are missing: long enough for a machine busy with other work.
    graceMs: 5000,
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
