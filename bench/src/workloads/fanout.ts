/** Workload 1: the fan-out ramp, open-loop steps of x`factor` until the p99 or delivery bound fails. */
import type { BenchConfig } from '../config.js';
import { sleep } from '../proc.js';
import type { FanoutResult, Log, StepResult } from '../results.js';
import type { RunningSystem } from '../systems/index.js';
import { Workers } from '../workers.js';
import { fanGroup, openGroup, runStep, stepLine } from './common.js';

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
        // Nothing passed yet (a machine busy with other work): halve the rate, down to 1/8 of
        // the start, so there is a peak to report; then the ramp goes on from there as usual.
        if (lastPass === 0 && rate / 2 >= f.startRate / 8) {
          rate /= 2;
          continue;
        }
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
