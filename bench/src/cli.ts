/**
 * `pnpm bench` (full) and `pnpm bench:smoke`: runs the workloads against the five systems,
 * shows progress on the terminal and writes the raw figures as JSON.
 *
 *   tsx src/cli.ts [--smoke] [--systems=chat,socketio,bare,centrifugo,centrifugo-recovery] [--workloads=fanout,latency,memory,drain]
 *                  [--workers=N] [--out=results/bench.json] [--wait-quiet]
 *                  [--merge="why"]  (replace only these workloads in an existing --out file)
 *                  [--latency-rate=msg/s]  (latency without this server's peak from the same file/run)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { SystemKind } from './load/protocol.js';
import { busyProcesses, killTracked, loadAvg, sleep } from './proc.js';
import {
  ALL_SYSTEMS,
  ALL_WORKLOADS,
  type BenchConfig,
  type BenchResult,
  FULL,
  runBench,
  SMOKE,
  type SystemResult,
  type Workload,
} from './run.js';

const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));

const { values: args } = parseArgs({
  // `pnpm bench -- --x` passes the `--` through.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    smoke: { type: 'boolean' },
    systems: { type: 'string' },
    workloads: { type: 'string' },
    workers: { type: 'string' },
    out: { type: 'string' },
    merge: { type: 'string' },
    'latency-rate': { type: 'string' },
    /** Idle connections per pod for each memory level, e.g. 5000,0 (0: the most the fd limit allows). */
    'memory-levels': { type: 'string' },
    'wait-quiet': { type: 'boolean' },
    'wait-quiet-min': { type: 'string' },
  },
});

function list<T extends string>(value: string | undefined, all: readonly T[], what: string): T[] | undefined {
  if (!value) return undefined;
  const items = value.split(',').map((s) => s.trim()) as T[];
  for (const i of items)
    if (!all.includes(i)) throw new Error(`unknown ${what} "${i}" (one of ${all.join(', ')})`);
  return items;
}

const tty = process.stderr.isTTY;
let transientShown = false;
let lastTransient = 0;
function log(system: string, line: string, transient = false): void {
  const text = `[${new Date().toISOString().slice(11, 19)}] [${system}] ${line}`;
  if (transient) {
    if (tty) {
      process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns ?? 120) - 1)}`);
      transientShown = true;
    } else if (Date.now() - lastTransient > 5000) {
      lastTransient = Date.now();
      process.stderr.write(`${text}\n`);
    }
    return;
  }
  if (transientShown) process.stderr.write('\r\x1b[2K');
  transientShown = false;
  process.stderr.write(`${text}\n`);
}

/** Waits (up to `maxMin` minutes) for a quiet machine: 1-minute load below 0.5. */
async function waitQuiet(maxMin: number): Promise<void> {
  const deadline = Date.now() + maxMin * 60_000;
  for (;;) {
    const load = loadAvg();
    const busy = busyProcesses(50);
    if (load.one < 0.5) {
      log('bench', `machine quiet: ${load.uptime}`);
      return;
    }
    if (Date.now() > deadline) {
      log(
        'bench',
        `machine still busy after ${maxMin} min (${load.uptime}); measuring anyway, noted in the result`,
      );
      return;
    }
    log(
      'bench',
      `waiting for a quiet machine: load ${load.one} ${busy.length ? `(busy: ${busy.join('; ')})` : ''}`,
    );
    await sleep(60_000);
  }
}

async function main(): Promise<void> {
  const base: BenchConfig = args.smoke ? SMOKE : FULL;
  const systems = list<SystemKind>(args.systems, ALL_SYSTEMS, 'system');
  const workloads = list<Workload>(args.workloads, ALL_WORKLOADS, 'workload');
  const workers = args.workers;
  const cfg: BenchConfig = {
    ...base,
    ...(systems ? { systems, mode: 'custom' as const } : {}),
    ...(workloads ? { workloads, mode: 'custom' as const } : {}),
    ...(workers ? { workers: Number(workers) } : {}),
  };
  // Only a complete full run replaces results/bench.json by default; a smoke or partial run
  // is a check, and its JSON goes to the temp dir unless --out says otherwise.
  const merge = args.merge;
  const latencyRate = args['latency-rate'];
  if (latencyRate) cfg.latency = { ...cfg.latency, fallbackRate: Number(latencyRate) };
  const levels = args['memory-levels'];
  if (levels) cfg.memory = { ...cfg.memory, levels: levels.split(',').map(Number) };
  const outPath = args.out;
  // Re-running latency alone into an existing result: keep 50% of the peak measured there.
  if (
    !latencyRate &&
    merge &&
    outPath &&
    cfg.workloads.includes('latency') &&
    !cfg.workloads.includes('fanout')
  ) {
    const existing = resolve(BENCH_DIR, outPath);
    if (existing && existsSync(existing)) {
      const old = JSON.parse(readFileSync(existing, 'utf8')) as BenchResult;
      const peak = old.systems.chat?.fanout?.peak?.msgsPerS;
      if (peak) cfg.latency = { ...cfg.latency, fallbackRate: peak * cfg.latency.fraction };
    }
  }
  const out = resolve(
    BENCH_DIR,
    args.out ?? (cfg.mode === 'full' ? 'results/bench.json' : join(tmpdir(), `chat-bench-${cfg.mode}.json`)),
  );
  if (args['wait-quiet']) await waitQuiet(Number(args['wait-quiet-min'] ?? 30));
  log(
    'bench',
    `${cfg.mode}: systems ${cfg.systems.join(', ')}; workloads ${cfg.workloads.join(', ')}; ${cfg.workers} load processes`,
  );
  const result = await runBench(cfg, log);
  mkdirSync(dirname(out), { recursive: true });
  if (merge && existsSync(out)) {
    // Replace only what was measured now; say so in the file.
    const old = JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
    old.reruns ??= [];
    for (const [kind, sys] of Object.entries(result.systems) as [SystemKind, SystemResult][]) {
      const target = old.systems[kind] ?? { ...sys, errors: [] };
      for (const w of cfg.workloads) {
        if (sys[w] === undefined) continue;
        Object.assign(target, { [w]: sys[w] });
        old.reruns.push({
          system: kind,
          workload: w,
          at: result.startedAt,
          load: result.machine.load.uptime,
          why: merge,
          version: sys.version,
        });
      }
      target.errors = [...target.errors, ...sys.errors];
      old.systems[kind] = target;
    }
    writeFileSync(out, `${JSON.stringify(old, null, 2)}\n`);
  } else writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  log('bench', `wrote ${out}`);
  const failed = Object.values(result.systems).flatMap((s) => s?.errors ?? []);
  if (failed.length > 0) {
    log('bench', `${failed.length} workload(s) failed:\n  ${failed.join('\n  ')}`);
    process.exitCode = 1;
  }
}

process.on('SIGINT', () => {
  killTracked();
  process.exit(130);
});

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    log('bench', `failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    killTracked();
    process.exit(1);
  },
);
