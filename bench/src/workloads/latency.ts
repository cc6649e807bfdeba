/** Workload 2: publish-to-deliver latency at a fixed rate (50 % of this server's peak). */
import type { BenchConfig } from '../config.js';
import { sleep } from '../proc.js';
import type { LatencyResult, Log, StepResult } from '../results.js';
import type { RunningSystem } from '../systems/index.js';
import { Workers } from '../workers.js';
import { fanGroup, openGroup, runStep, stepLine } from './common.js';

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
