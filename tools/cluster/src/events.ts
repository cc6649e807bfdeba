import type { EventEmitter } from 'node:events';
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

/**
 * Resolves with the arguments of the next `event` of `emitter` whose arguments satisfy `pred`;
 * rejects after `timeoutMs`. Subscribe before triggering the operation you wait on.
 */
export function nextEvent<E extends Record<keyof E, unknown[]>, K extends keyof E & string>(
  emitter: EventEmitter<E>,
  event: K,
  pred: (...args: E[K]) => boolean,
  timeoutMs: number,
): Promise<E[K]> {
  const untyped = emitter as EventEmitter;
  return new Promise((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      const typed = args as E[K];
      if (!pred(...typed)) return;
      clearTimeout(timer);
      untyped.off(event, listener);
      resolve(typed);
    };
    const timer = setTimeout(() => {
      untyped.off(event, listener);
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    untyped.on(event, listener);
  });
}
