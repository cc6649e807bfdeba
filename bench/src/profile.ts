/**
 * CPU profile of the pods under fan-out: a steady fan-out load for a while with every pod
 * sampled only during the measured window, then the top self-time functions summed over the
 * pods. This server: the V8 profiler (systems/prof-entry.ts, started and stopped by SIGUSR2).
 * Centrifugo: its pprof endpoint, read with `go tool pprof`.
 *
 *   tsx src/profile.ts --label=before [--rate=400] [--seconds=20]
 *   tsx src/profile.ts --system=centrifugo-recovery --label=centrifugo-recovery --rate=600
 *
 * BENCH_CHAT_SERVER=<bundle> profiles another build of the server (e.g. the one before a change).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_SERVER_ENTRY } from '@chat/cluster';
import type { SparseCounts } from './hist.js';
import { Histogram } from './hist.js';
import type { StatsResult, SystemKind } from './load/protocol.js';
import { killTracked, loadAvg, sleep } from './proc.js';
import type { ProfileEntry } from './profile/entry.js';
import { summarize } from './profile/node.js';
import { fetchProfiles, summarizePprof } from './profile/pprof.js';
import { FULL } from './run.js';
import { buildEntries, distFile } from './systems/build.js';
import { type RunningSystem, startSystem } from './systems/index.js';
import { split, Workers } from './workers.js';

export type { ProfileEntry } from './profile/entry.js';

export interface ProfileSummary {
  label: string;
  /** The system profiled (this server when absent: the profiles written before there was a choice). */
  system?: SystemKind;
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

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    label: { type: 'string', default: 'profile' },
    system: { type: 'string', default: 'chat' },
    rate: { type: 'string', default: '400' },
    seconds: { type: 'string', default: '20' },
  },
});

async function main(): Promise<void> {
  const label = args.label;
  const kind = args.system as SystemKind;
  if (kind !== 'chat' && kind !== 'centrifugo' && kind !== 'centrifugo-recovery')
    throw new Error(`--system: chat, centrifugo or centrifugo-recovery, not ${kind}`);
  const rate = Number(args.rate);
  const seconds = Number(args.seconds);
  const f = FULL.fanout;
  await buildEntries();
  const dir = mkdtempSync(join(tmpdir(), 'chat-bench-prof-'));
  const sys: RunningSystem =
    kind === 'chat'
      ? await startSystem('chat', {
          env: { PROF_DIR: dir, PROF_SERVER_ENTRY: process.env.BENCH_CHAT_SERVER ?? DEFAULT_SERVER_ENTRY },
          serverEntry: distFile('prof-entry'),
        })
      : await startSystem(kind, { env: { CENTRIFUGO_DEBUG_ENABLED: 'true' } });
  let goProfiles: Promise<string[]> | undefined;
  let goFiles: string[] = [];
  const w = await Workers.start(FULL.workers);
  let stats: StatsResult[] = [];
  try {
    const total = f.rooms * f.members;
    const ranges = split(total, w.size);
    // One prefix for every load process: their clients share the rooms.
    const roomPrefix = `prof${Date.now() % 100000}-`;
    const opened = await w.all((i) => ({
      t: 'open',
      spec: {
        group: 'prof',
        system: kind,
        urls: sys.pods.map((p) => p.url),
        total,
        from: ranges[i]?.[0] ?? 0,
        to: ranges[i]?.[1] ?? 0,
        rooms: f.rooms,
        roomPrefix,
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
    if (kind === 'chat') {
      for (const p of sys.pods) if (p.pid) process.kill(p.pid, 'SIGUSR2'); // start sampling
    } else {
      goProfiles = fetchProfiles(
        sys.pods.map((p) => p.port),
        seconds,
        dir,
      );
    }
    await publishing;
    await sleep(1500);
    // Counted before the profile is written: writing it blocks the pod for a while.
    stats = await w.all({ t: 'stats', tag: 1 });
    // Go: the pprof answers when its window ends, before the pods stop.
    if (goProfiles) goFiles = await goProfiles;
    if (kind === 'chat') {
      for (const p of sys.pods) if (p.pid) process.kill(p.pid, 'SIGUSR2'); // stop and write
      for (
        let i = 0;
        i < 50 && readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).length < sys.pods.length;
        i++
      )
        await sleep(200);
    }
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
  const sum =
    kind === 'chat'
      ? summarize(dir)
      : await summarizePprof(goFiles, seconds).then((p) => ({
          totalMs: p.totalMs,
          idleMs: p.totalMs - p.busyMs,
          top: p.top,
        }));
  const lat = hist.summary();
  const summary: ProfileSummary = {
    label,
    system: kind,
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
