/**
 * Turns the raw JSON of a run into the figures of bench/RESULTS.md (between its
 * `<!-- figures:start -->` / `<!-- figures:end -->` markers) and the SVG charts, drawn with
 * vega-lite + vega in Node (no browser).
 *
 *   tsx src/report.ts [--in=results/bench.json]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { SystemKind } from './load/protocol.js';
import type { ProfileSummary } from './profile.js';
import type { BenchResult, StepResult, SystemResult } from './run.js';

const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = join(BENCH_DIR, 'results');
const NAMES: Record<SystemKind, string> = {
  chat: 'this server',
  socketio: 'Socket.IO + redis-adapter',
  bare: 'bare ws + ioredis',
};

async function svg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}

export async function fanoutChart(r: BenchResult): Promise<string> {
  const values: { system: string; offered: number; p99: number; pass: string }[] = [];
  for (const s of Object.values(r.systems)) {
    for (const step of s?.fanout?.steps ?? []) {
      values.push({
        system: NAMES[s?.kind ?? 'chat'],
        offered: step.offeredDeliveriesPerS,
        p99: Math.max(0.1, step.latency.p99),
        pass: step.pass ? 'within bound' : 'over bound / behind',
      });
    }
  }
  const bound = r.config.fanout.p99BoundMs;
  return svg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Fan-out: p99 publish-to-deliver latency vs offered load',
      subtitle: `${r.config.fanout.rooms} rooms x ${r.config.fanout.members} members over 3 pods; dashed: the ${bound} ms bound`,
    },
    width: 640,
    height: 360,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: {
            field: 'offered',
            type: 'quantitative',
            title: 'offered deliveries/s (log)',
            scale: { type: 'log', nice: false, padding: 10 },
          },
          y: { field: 'p99', type: 'quantitative', title: 'p99 latency (ms, log)', scale: { type: 'log' } },
          color: { field: 'system', type: 'nominal', title: null, legend: { labelLimit: 300 } },
          shape: { field: 'pass', type: 'nominal', title: null, legend: { labelLimit: 300 } },
        },
      },
      {
        data: { values: [{ y: bound }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: 'gray' },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
    ],
  });
}

export async function memoryChart(r: BenchResult): Promise<string> {
  const values: { system: string; level: string; kib: number }[] = [];
  // Level i of every system is the same target; the largest one differs by a few connections
  // between systems (each pod's own descriptors), so it is labelled with the range.
  const perLevel: number[][] = [];
  for (const s of Object.values(r.systems))
    for (const [i, l] of (s?.memory?.levels ?? []).entries())
      perLevel[i] = [...(perLevel[i] ?? []), l.perPod];
  const label = (i: number) => {
    const ns = perLevel[i] ?? [];
    const lo = Math.min(...ns);
    const hi = Math.max(...ns);
    return `${i + 1}. ${lo === hi ? fmt(lo) : `${fmt(lo)}-${fmt(hi)}`} per pod`;
  };
  for (const s of Object.values(r.systems)) {
    for (const [i, l] of (s?.memory?.levels ?? []).entries()) {
      values.push({
        system: NAMES[s?.kind ?? 'chat'],
        level: label(i),
        kib: Math.round((l.meanBytesPerConn / 1024) * 100) / 100,
      });
    }
  }
  return svg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Memory per idle connection',
      subtitle: '(RSS after - RSS before) / connections, mean of the 3 pods',
    },
    data: { values },
    width: 180,
    height: 300,
    mark: 'bar',
    encoding: {
      column: { field: 'level', type: 'nominal', title: null },
      x: { field: 'system', type: 'nominal', title: null, axis: { labels: false, ticks: false } },
      y: { field: 'kib', type: 'quantitative', title: 'KiB per connection' },
      color: { field: 'system', type: 'nominal', title: null, legend: { labelLimit: 300 } },
      tooltip: [{ field: 'kib' }],
    },
  });
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || Number.isNaN(n)
    ? 'n/a'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`;
const kib = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 1024);

function mem(s: SystemResult | undefined, i: number): number | undefined {
  return kib(s?.memory?.levels[i]?.meanBytesPerConn);
}

function stepsTable(steps: StepResult[]): string {
  const rows = steps.map(
    (s) =>
      `| ${fmt(s.offeredMsgsPerS)} | ${fmt(s.offeredDeliveriesPerS)} | ${fmt(s.achievedDeliveriesPerS)} | ` +
      `${(s.deliveredRatio * 100).toFixed(1)}% | ${fmt(s.latency.p50, 1)} | ${fmt(s.latency.p99, 1)} | ` +
      `${fmt(s.latency.max, 1)} | ${s.cpu.pods} / ${s.cpu.redis} / ${s.cpu.load}${s.cpu.other === undefined ? '' : ` / ${s.cpu.other}`} | ${s.pass ? 'yes' : '**no**'} |`,
  );
  return [
    '| msg/s | offered deliveries/s | delivered/s | delivered | p50 ms | p99 ms | max ms | cores pods / redis / load (/ other) | within |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows,
  ].join('\n');
}

function profileTable(p: ProfileSummary): string {
  const busy = Math.round(p.totalMs * (1 - p.idlePercent / 100));
  return [
    `${p.rateMsgsPerS} msg/s x ${p.members} members for ${p.seconds} s (${fmt(p.deliveriesPerS)} deliveries/s, ` +
      `p50 ${p.latencyMs.p50} ms, p99 ${p.latencyMs.p99} ms); pods busy ${fmt(busy)} ms of ${fmt(p.totalMs)} ms ` +
      `sampled (${(100 - p.idlePercent).toFixed(1)}%); load when measured: \`${p.load}\``,
    '',
    '| self time | share of busy | function | where |',
    '| ---: | ---: | --- | --- |',
    ...p.top
      .slice(0, 12)
      .map(
        (e) => `| ${fmt(e.selfMs)} ms | ${e.percent.toFixed(1)}% | \`${e.fn}\` | ${e.where || '(native)'} |`,
      ),
  ].join('\n');
}

function beforeAfter(before: BenchResult, after: BenchResult): string {
  const b = before.systems.chat?.fanout;
  const a = after.systems.chat?.fanout;
  if (!a || !b) return '';
  const rows: string[] = [];
  // Pair the steps by offered rate (and repeat number, a failing step runs twice).
  const keyed = (steps: StepResult[]) => {
    const seen = new Map<number, number>();
    return new Map(
      steps.map((st) => {
        const k = (seen.get(st.offeredMsgsPerS) ?? 0) + 1;
        seen.set(st.offeredMsgsPerS, k);
        return [`${st.offeredMsgsPerS}#${k}`, st] as const;
      }),
    );
  };
  const kb = keyed(b.steps);
  const ka = keyed(a.steps);
  const keys = [...new Set([...kb.keys(), ...ka.keys()])].sort(
    (p, q) => Number(p.split('#')[0]) - Number(q.split('#')[0]) || p.localeCompare(q),
  );
  for (const key of keys) {
    const x = kb.get(key);
    const y = ka.get(key);
    const cell = (s: StepResult | undefined) =>
      s
        ? `${fmt(s.latency.p50, 1)} / ${fmt(s.latency.p99, 1)} ms, pods ${s.cpu.pods} cores${s.pass ? '' : ' (over)'}`
        : '';
    rows.push(`| ${fmt((x ?? y)?.offeredDeliveriesPerS)} | ${cell(x)} | ${cell(y)} |`);
  }
  return [
    `Fan-out ramp of this server alone, before and after, back to back (load at start: \`${before.machine.load.uptime}\` / \`${after.machine.load.uptime}\`): peak **${fmt(b.peak?.deliveriesPerS)}** -> **${fmt(a.peak?.deliveriesPerS)}** deliveries/s (${ratio(a.peak?.deliveriesPerS, b.peak?.deliveriesPerS)}).`,
    '',
    '| offered deliveries/s | before: p50 / p99, pod CPU | after: p50 / p99, pod CPU |',
    '| ---: | --- | --- |',
    ...rows,
  ].join('\n');
}

export function figures(
  r: BenchResult,
  profiles: { before?: ProfileSummary; after?: ProfileSummary },
  ramps?: { before: BenchResult; after: BenchResult },
): string {
  const c = r.systems.chat;
  const s = r.systems.socketio;
  const b = r.systems.bare;
  const peak = (x: SystemResult | undefined) => x?.fanout?.peak?.deliveriesPerS;
  const lat = (x: SystemResult | undefined) => x?.latency?.step.latency;
  const m = r.machine;
  const levels = c?.memory?.levels ?? s?.memory?.levels ?? [];
  const maxLevel = levels.at(-1)?.perPod;
  const lines: string[] = [];
  lines.push(
    `Measured ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC to ${r.finishedAt.slice(11, 16)} (${r.mode} run).`,
    '',
    '| machine | |',
    '| --- | --- |',
    `| CPU | ${m.cpus} cores, ${m.cpuModel} |`,
    `| RAM | ${m.memGiB} GiB |`,
    `| OS | Linux ${m.kernel}; open-file limit ${m.fdLimit} per process |`,
    `| Node.js | ${m.node} |`,
    `| Redis | ${m.redis} (the harness's settings: appendonly, appendfsync always) |`,
    `| load (\`uptime\`) at start | \`${m.load.uptime}\` |`,
    `| load at end (includes the bench's own pods and load processes) | \`${r.machineAfter.uptime}\` |`,
    '',
    '| system | version |',
    '| --- | --- |',
    ...Object.values(r.systems).map((x) => `| ${x?.label} | ${x?.version} |`),
    `| load clients | ws ${r.versions.ws}, socket.io-client ${r.versions['socket.io-client']} |`,
    '',
    '| figure | this server | Socket.IO | bare | ours / Socket.IO | ours / bare | target |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    `| fan-out peak deliveries/s (p99 <= ${r.config.fanout.p99BoundMs} ms, >= ${r.config.fanout.minDeliveredRatio * 100}% delivered) | ${fmt(peak(c))} | ${fmt(peak(s))} | ${fmt(peak(b))} | ${ratio(peak(c), peak(s))} | ${ratio(peak(c), peak(b))} | >= 3x Socket.IO, >= 0.80x bare |`,
  );
  // Pod CPU per delivery at the highest offered rate every system passed: what a delivery
  // costs the pods themselves, apart from the load clients that share the cores.
  const passed = (x: SystemResult | undefined) =>
    new Set((x?.fanout?.steps ?? []).filter((st) => st.pass).map((st) => st.offeredMsgsPerS));
  const all = [c, s, b].filter((x) => x?.fanout);
  const common = [...passed(all[0])].filter((rate) => all.every((x) => passed(x).has(rate)));
  const rate = Math.max(0, ...common);
  if (rate > 0) {
    const us = (x: SystemResult | undefined) => {
      const st = x?.fanout?.steps.find((y) => y.pass && y.offeredMsgsPerS === rate);
      return st ? (st.cpu.pods / st.achievedDeliveriesPerS) * 1e6 : undefined;
    };
    const loadUs = (x: SystemResult | undefined) => {
      const st = x?.fanout?.steps.find((y) => y.pass && y.offeredMsgsPerS === rate);
      return st ? (st.cpu.load / st.achievedDeliveriesPerS) * 1e6 : undefined;
    };
    lines.push(
      `| pod CPU per delivery, µs, at ${fmt(rate)} msg/s (highest step all passed) | ${fmt(us(c), 1)} | ${fmt(us(s), 1)} | ${fmt(us(b), 1)} | ${ratio(us(c), us(s))} | ${ratio(us(c), us(b))} | |`,
      `| load-client CPU per delivery, µs, same step | ${fmt(loadUs(c), 1)} | ${fmt(loadUs(s), 1)} | ${fmt(loadUs(b), 1)} | | | |`,
    );
  }
  let latencyNote = '';
  const lr = c?.latency ?? s?.latency;
  if (lr) {
    const label = `at ${fmt(lr.msgsPerS)} msg/s = ${fmt(lr.deliveriesPerS)} deliveries/s`;
    for (const q of ['p50', 'p99', 'max'] as const) {
      const target = q === 'p99' ? '<= 1/3 of Socket.IO (<= 0.33x)' : '';
      lines.push(
        `| latency ${q} ms ${label} | ${fmt(lat(c)?.[q], 1)} | ${fmt(lat(s)?.[q], 1)} | ${fmt(lat(b)?.[q], 1)} | ${ratio(lat(c)?.[q], lat(s)?.[q])} | ${ratio(lat(c)?.[q], lat(b)?.[q])} | ${target} |`,
      );
    }
    const dr = (x: SystemResult | undefined) =>
      x?.latency ? `${(x.latency.step.deliveredRatio * 100).toFixed(1)}%` : 'n/a';
    lines.push(`| delivered in that run | ${dr(c)} | ${dr(s)} | ${dr(b)} | | | |`);
    const reps = (x: SystemResult | undefined) =>
      (x?.latency?.repeats ?? [])
        .map(
          (st) =>
            `${fmt(st.latency.p50, 1)} / ${fmt(st.latency.p99, 1)} / ${fmt(st.latency.max, 1)}${st.cpu.other === undefined ? '' : ` (other load ${st.cpu.other} cores)`}`,
        )
        .join('; ');
    if ([c, s, b].some((x) => (x?.latency?.repeats?.length ?? 0) > 1))
      latencyNote = `Latency: ${Math.max(...[c, s, b].map((x) => x?.latency?.repeats?.length ?? 1))} runs of ${r.config.latency.durationMs / 1000} s on the same pods per system, the one with the median p99 in the table. Each run p50 / p99 / max ms: ${[
        c,
        s,
        b,
      ]
        .filter((x) => x?.latency)
        .map((x) => `${x?.label}: ${reps(x)}`)
        .join('. ')}.`;
  }
  levels.forEach((l, i) => {
    lines.push(
      `| memory per idle connection, KiB, ${fmt(l.perPod)} per pod | ${fmt(mem(c, i), 2)} | ${fmt(mem(s, i), 2)} | ${fmt(mem(b, i), 2)} | ${ratio(mem(c, i), mem(s, i))} | ${ratio(mem(c, i), mem(b, i))} | <= 8 KiB and <= 0.5x Socket.IO |`,
    );
  });
  const d = c?.drain;
  const ds = s?.drain;
  if (d || ds) {
    const window = Math.min(10_000, ((d?.clients ?? 5000) * 1000) / 500);
    lines.push(
      `| drain storm: clients on the terminated pod | ${fmt(d?.clients)} | ${fmt(ds?.clients)} | n/a | | | |`,
      `| drain storm: SIGTERM to all rejoined elsewhere, ms | ${d ? (d.allBack ? fmt(d.allBackMs) : `not all (${d.recovered})`) : 'n/a'} | ${ds ? (ds.allBack ? fmt(ds.allBackMs) : `not all (${ds.recovered})`) : 'n/a'} | n/a | | | <= drain window + 2 s = ${fmt(window + 2000)} ms |`,
      `| drain storm: acked but never delivered (client x message) | ${fmt(d?.audit.lost)} | ${fmt(ds?.audit.lost)} | n/a | | | 0 |`,
      `| drain storm: duplicates | ${fmt(d?.audit.duplicates)} | ${fmt(ds?.audit.duplicates)} | n/a | | | 0 |`,
      `| drain storm: deliveries checked / messages acked | ${fmt(d?.audit.checked)} / ${fmt(d?.background.acked)} | ${fmt(ds?.audit.checked)} / ${fmt(ds?.background.acked)} | n/a | | | |`,
    );
  }
  if (latencyNote) lines.push('', latencyNote);
  if (maxLevel !== undefined) {
    const each = [c, s, b]
      .filter((x) => x?.memory)
      .map((x) => `${x?.label}: ${fmt(x?.memory?.levels.at(-1)?.perPod)}`)
      .join(', ');
    lines.push(
      '',
      `The larger memory level is the most each pod's 20,000-descriptor limit allows (20,000 minus the descriptors the pod already held, minus 30): ${each} idle connections per pod.`,
    );
  }
  const groups = new Map<
    string,
    { systems: string[]; workload: string; at: string; load: string; why: string; version?: string }
  >();
  for (const rr of r.reruns ?? []) {
    const key = `${rr.workload}|${rr.at}`;
    const g = groups.get(key) ?? {
      systems: [],
      workload: rr.workload,
      at: rr.at,
      load: rr.load,
      why: rr.why,
    };
    if (rr.system === 'chat' && rr.version) g.version = rr.version;
    g.systems.push(NAMES[rr.system]);
    groups.set(key, g);
  }
  for (const g of groups.values())
    lines.push(
      '',
      `Re-measured: ${g.workload} of ${g.systems.join(', ')}, at ${g.at.slice(0, 16).replace('T', ' ')} UTC (load at start \`${g.load}\`${g.version ? `; this server: ${g.version}` : ''}): ${g.why}.`,
    );
  lines.push(
    '',
    '![fan-out curve](results/fanout.svg)',
    '',
    '![memory per connection](results/memory.svg)',
    '',
  );
  for (const x of [c, s, b]) {
    if (!x?.fanout) continue;
    lines.push(
      `#### Fan-out steps: ${x.label}`,
      '',
      `${x.fanout.connections} connections, ${x.fanout.rooms} rooms x ${x.fanout.members} members; a failing step is run once more before it counts; after the x${r.config.fanout.factor} ramp, ${r.config.fanout.refineSteps ?? 0} steps bisect between the last passing and the failing rate.`,
      '',
      stepsTable(x.fanout.steps),
      '',
    );
  }
  for (const x of [c, s]) {
    const dd = x?.drain;
    if (!dd) continue;
    lines.push(
      `#### Drain storm: ${x?.label}`,
      '',
      `- ${dd.clients} clients on the terminated pod (${dd.rooms} rooms), ${dd.observers} observers on the other pods; ` +
        `background ${dd.background.sent} messages sent, ${dd.background.acked} acked, ${dd.background.unacked} never acked, ${dd.background.resent} resends after reconnects.`,
      `- pod exit: code ${dd.drainExit.code ?? dd.drainExit.signal} after ${fmt(dd.drainExit.ms)} ms; close codes seen by clients: ${JSON.stringify(dd.closeCodes)}; refused reconnect attempts: ${dd.refusedAttempts}.`,
      `- offline time per client: p50 ${fmt(dd.gapMs.p50)} ms, p99 ${fmt(dd.gapMs.p99)} ms, max ${fmt(dd.gapMs.max)} ms.`,
      `- lost ${dd.audit.lost}, duplicates ${dd.audit.duplicates}, of ${fmt(dd.audit.checked)} (client, acked message) pairs checked.${dd.audit.lostSamples.length ? ` Samples: ${dd.audit.lostSamples.slice(0, 3).join('; ')}` : ''}`,
      '',
    );
  }
  if (ramps) lines.push('#### Hot path before and after', '', beforeAfter(ramps.before, ramps.after), '');
  if (profiles.before || profiles.after) {
    lines.push('#### CPU profile of the pods under fan-out', '');
    if (profiles.before) lines.push('Before:', '', profileTable(profiles.before), '');
    if (profiles.after) lines.push('After:', '', profileTable(profiles.after), '');
  }
  for (const x of [c, s, b])
    if (x?.errors.length) lines.push(`Errors (${x.label}): ${x.errors.join('; ')}`, '');
  return lines.join('\n');
}

function readJson<T>(path: string): T | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined;
}

async function main(): Promise<void> {
  const hit = process.argv.find((a) => a.startsWith('--in='));
  const input = resolve(BENCH_DIR, hit ? hit.slice(5) : 'results/bench.json');
  const r = readJson<BenchResult>(input);
  if (!r) throw new Error(`${input} not found: run \`pnpm bench\` first`);
  writeFileSync(join(RESULTS, 'fanout.svg'), await fanoutChart(r));
  writeFileSync(join(RESULTS, 'memory.svg'), await memoryChart(r));
  const before = readJson<ProfileSummary>(join(RESULTS, 'profile-before.json'));
  const after = readJson<ProfileSummary>(join(RESULTS, 'profile-after.json'));
  const rb = readJson<BenchResult>(join(RESULTS, 'before', 'chat-fanout-before.json'));
  const ra = readJson<BenchResult>(join(RESULTS, 'before', 'chat-fanout-after.json'));
  const text = figures(
    r,
    { ...(before ? { before } : {}), ...(after ? { after } : {}) },
    rb && ra ? { before: rb, after: ra } : undefined,
  );
  const md = join(BENCH_DIR, 'RESULTS.md');
  const doc = existsSync(md)
    ? readFileSync(md, 'utf8')
    : '# Benchmarks\n\n<!-- figures:start -->\n<!-- figures:end -->\n';
  const start = doc.indexOf('<!-- figures:start -->');
  const end = doc.indexOf('<!-- figures:end -->');
  if (start < 0 || end < 0) throw new Error('RESULTS.md lacks the figures markers');
  const out = `${doc.slice(0, start)}<!-- figures:start -->\n<!-- generated by \`pnpm --filter @chat/bench report\` from ${input.slice(BENCH_DIR.length)} -->\n\n${text}\n${doc.slice(end)}`;
  writeFileSync(md, out);
  process.stderr.write(`wrote ${md}, results/fanout.svg, results/memory.svg\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
