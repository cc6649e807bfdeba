import type { PodExit, PodInfo } from './pod.js';

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
