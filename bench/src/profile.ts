/**
 * CPU profile of this server's pods under fan-out: `node --cpu-prof` on every pod (through
 * NODE_OPTIONS), a steady fan-out load for a while, a graceful stop (the profile is written
 * on exit), then the top self-time functions summed over the pods.
 *
 *   tsx src/profile.ts --label=before [--rate=400] [--seconds=20]
 *
 * BENCH_CHAT_SERVER=<bundle> profiles another build of the server (e.g. the one before a change).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_SERVER_ENTRY } from '@chat/cluster';
import type { SparseCounts } from './hist.js';
import { Histogram } from './hist.js';
import type { StatsResult } from './load/protocol.js';
import { killTracked, loadAvg, sleep } from './proc.js';
import { FULL } from './run.js';
import { buildEntries, distFile } from './systems/build.js';
import { startSystem } from './systems/index.js';
import { split, Workers } from './workers.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  fn: string;
  where: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  label: string;
  measuredAt: string;
  load: string;
  rateMsgsPerS: number;
  seconds: number;
  rooms: number;
  members: number;
  deliveriesPerS: number;
  latencyMs: { p50: number; p99: number; max: number };
  totalMs: number;
  /** Share of the pods' samples that were idle (waiting in epoll). */
  idlePercent: number;
  top: ProfileEntry[];
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function shortUrl(url: string): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(ROOT) ? relative(ROOT, path) : path;
}

/** Self time per function (name + file + line), summed over every profile in `dir`. */
export function summarize(dir: string): { totalMs: number; idleMs: number; top: ProfileEntry[] } {
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let totalUs = 0;
  let idleUs = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0;
      const cf = byId.get(id);
      if (!cf) return;
      totalUs += dt;
      if (cf.functionName === '(idle)') {
        idleUs += dt;
        return;
      }
      const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
      const key = `${cf.functionName}@${where}`;
      const e = self.get(key) ?? { fn: cf.functionName || '(anonymous)', where, us: 0 };
      e.us += dt;
      self.set(key, e);
    });
  }
  const busy = totalUs - idleUs;
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, 25)
    .map((e) => ({
      fn: e.fn,
      where: e.where,
      selfMs: Math.round(e.us / 1000),
      percent: Math.round((e.us / Math.max(1, busy)) * 1000) / 10,
    }));
  return { totalMs: Math.round(totalUs / 1000), idleMs: Math.round(idleUs / 1000), top };
}

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    label: { type: 'string', default: 'profile' },
    rate: { type: 'string', default: '400' },
    seconds: { type: 'string', default: '20' },
  },
});

async function main(): Promise<void> {
  const label = args.label;
  const rate = Number(args.rate);
  const seconds = Number(args.seconds);
  const f = FULL.fanout;
  await buildEntries();
  const dir = mkdtempSync(join(tmpdir(), 'chat-bench-prof-'));
  const sys = await startSystem('chat', {
    env: { PROF_DIR: dir, PROF_SERVER_ENTRY: process.env.BENCH_CHAT_SERVER ?? DEFAULT_SERVER_ENTRY },
    serverEntry: distFile('prof-entry'),
  });
  const w = await Workers.start(FULL.workers);
  let stats: StatsResult[] = [];
  try {
    const total = f.rooms * f.members;
    const ranges = split(total, w.size);
    const opened = await w.all((i) => ({
      t: 'open',
      spec: {
        group: 'prof',
        system: 'chat',
        urls: sys.pods.map((p) => p.url),
        total,
        from: ranges[i]?.[0] ?? 0,
        to: ranges[i]?.[1] ?? 0,
        rooms: f.rooms,
        roomPrefix: `prof${Date.now() % 100000}-`,
        publishers: true,
        reconnect: false,
        track: false,
        ...(sys.tokenSecret ? { tokenSecret: sys.tokenSecret } : {}),
        textPad: FULL.textPad,
      },
      concurrency: FULL.connectConcurrency,
    }));
    const failed = opened.reduce((n, o) => n + o.failed, 0);
    if (failed > 0)
      throw new Error(`${failed} clients could not connect: ${opened.find((o) => o.firstError)?.firstError}`);
    process.stderr.write(`[profile] ${total} clients; ${rate} msg/s for ${seconds} s, sampling every pod\n`);
    await sleep(1000);
    const warmupMs = 2000;
    const publishing = w.all({
      t: 'publish',
      tag: 1,
      ratePerPublisher: rate / f.rooms,
      warmupMs,
      durationMs: seconds * 1000,
    });
    await sleep(warmupMs);
    for (const p of sys.pods) if (p.pid) process.kill(p.pid, 'SIGUSR2'); // start sampling
    await publishing;
    await sleep(1500);
    // Counted before the profile is written: writing it blocks the pod for a while.
    stats = await w.all({ t: 'stats', tag: 1 });
    for (const p of sys.pods) if (p.pid) process.kill(p.pid, 'SIGUSR2'); // stop and write
    for (
      let i = 0;
      i < 50 && readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).length < sys.pods.length;
      i++
    )
      await sleep(200);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    await w.all({ t: 'closeAll' }).catch(() => {});
    await w.stop();
    await sys.stop();
  }
  const hist = new Histogram();
  let delivered = 0;
  let expected = 0;
  for (const s of stats) {
    hist.merge(s.hist as { counts: SparseCounts; count: number; maxUs: number; sumUs: number });
    delivered += s.delivered;
    expected += s.expected;
  }
  const sum = summarize(dir);
  const lat = hist.summary();
  const summary: ProfileSummary = {
    label,
    measuredAt: new Date().toISOString(),
    load: loadAvg().uptime,
    rateMsgsPerS: rate,
    seconds,
    rooms: f.rooms,
    members: f.members,
    deliveriesPerS: Math.round(delivered / seconds),
    latencyMs: { p50: lat.p50, p99: lat.p99, max: lat.max },
    totalMs: sum.totalMs,
    idlePercent: Math.round((sum.idleMs / Math.max(1, sum.totalMs)) * 1000) / 10,
    top: sum.top,
  };
  const outDir = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `profile-${label}.json`);
  writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  process.stderr.write(
    `[profile] ${summary.deliveriesPerS} deliveries/s (${delivered}/${expected} delivered), p50 ${lat.p50} ms p99 ${lat.p99} ms; pods idle ${summary.idlePercent}% of ${sum.totalMs} ms\n`,
  );
  for (const e of summary.top.slice(0, 20))
    process.stderr.write(
      `  ${e.percent.toFixed(1).padStart(5)}%  ${e.selfMs.toString().padStart(6)} ms  ${e.fn}  ${e.where}\n`,
    );
  process.stderr.write(`[profile] wrote ${out}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.on('SIGINT', () => {
    killTracked();
    process.exit(130);
  });
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(
        `[profile] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      killTracked();
      process.exit(1);
    },
  );
}
