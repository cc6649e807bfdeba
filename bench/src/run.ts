/**
 * The orchestrator: starts each system in turn (3 pods + its own Redis), drives the load
 * processes through the workloads (src/workloads/), and returns every figure as one JSON
 * document (src/results.ts).
 */
import { ALL_WORKLOADS, type BenchConfig } from './config.js';
import type { SystemKind } from './load/protocol.js';
import { machine } from './proc.js';
import type { BenchResult, Log, SystemResult } from './results.js';
import { buildEntries } from './systems/build.js';
import { describeSystem, type RunningSystem, startSystem, versions } from './systems/index.js';
import { drain } from './workloads/drain.js';
import { fanout } from './workloads/fanout.js';
import { latency } from './workloads/latency.js';
import { memory } from './workloads/memory.js';

export * from './config.js';
export type * from './results.js';

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
          r.version = sys.version; // what actually runs (e.g. the binary's own version line)
          switch (workload) {
            case 'fanout':
              r.fanout = await fanout(sys, cfg, l);
              l(
                `fan-out peak: ${r.fanout.peak ? `${r.fanout.peak.deliveriesPerS} deliveries/s` : 'none within the bound'}`,
              );
              return;
            case 'latency': {
              // This server's peak; on a machine so busy that no step met the latency bound, the
              // highest rate it delivered in full stands in for it (said in the log).
              const chatFan = result.systems.chat?.fanout;
              const delivered = (chatFan?.steps ?? []).filter(
                (st) => st.deliveredRatio >= cfg.fanout.minDeliveredRatio,
              );
              const peak =
                chatFan?.peak?.msgsPerS ??
                (delivered.length ? Math.max(...delivered.map((st) => st.offeredMsgsPerS)) : undefined);
              if (chatFan && !chatFan.peak && peak)
                l(`latency: no step within the bound; using ${peak} msg/s`);
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
