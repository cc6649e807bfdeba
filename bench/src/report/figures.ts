/** The figures part of RESULTS.md: the machine, the versions, and every system side by side. */
import { drainWindowMs } from '@chat/protocol';
import type { SystemKind } from '../load/protocol.js';
import type { ProfileSummary } from '../profile.js';
import type { BenchResult, DrainResult, StepResult, SystemResult } from '../run.js';
import { COLUMNS } from '../systems/labels.js';
import { fmt, kib, ordered, ratio } from './format.js';
import { beforeAfter, drainSection, profileTable, rerunLines, stepsTable } from './sections.js';

/** The ratio columns: this server against each of these. */
const VERSUS: SystemKind[] = ['centrifugo-recovery', 'socketio', 'bare'];

type Value = (x: SystemResult | undefined) => number | undefined;

/** One row: a value per system, the ratios, the target. */
function row(
  r: BenchResult,
  label: string,
  value: Value,
  digits: number,
  target = '',
  ratios = true,
): string {
  const cells = ordered(r).map((x) => fmt(value(x), digits));
  const c = value(r.systems.chat);
  const rs = VERSUS.map((k) => (ratios ? ratio(c, value(r.systems[k])) : ''));
  return `| ${label} | ${cells.join(' | ')} | ${rs.join(' | ')} | ${target} |`;
}

function textRow(r: BenchResult, label: string, cell: (x: SystemResult) => string, target = ''): string {
  return `| ${label} | ${ordered(r).map(cell).join(' | ')} | ${VERSUS.map(() => '').join(' | ')} | ${target} |`;
}

function header(r: BenchResult): string[] {
  const systems = ordered(r).map((x) => COLUMNS[x.kind]);
  const versus = VERSUS.map((k) => `ours / ${COLUMNS[k]}`);
  return [
    `| figure | ${systems.join(' | ')} | ${versus.join(' | ')} | target |`,
    `| --- | ${systems.map(() => '---:').join(' | ')} | ${versus.map(() => '---:').join(' | ')} | --- |`,
  ];
}

/**
 * The highest offered rate at which every system delivered (>= minDeliveredRatio within the
 * grace), whether or not its p99 met the bound: CPU per delivery does not depend on latency,
 * and on a machine busy with other work the latency bound may fail where the pods keep up.
 */
export function commonRate(r: BenchResult): number {
  const min = r.config.fanout.minDeliveredRatio;
  const delivered = (x: SystemResult) =>
    new Set((x.fanout?.steps ?? []).filter((st) => st.deliveredRatio >= min).map((st) => st.offeredMsgsPerS));
  const all = ordered(r).filter((x) => x.fanout);
  const first = all[0];
  if (!first) return 0;
  return Math.max(0, ...[...delivered(first)].filter((rate) => all.every((x) => delivered(x).has(rate))));
}

/** The first step of `x` at `rate` that delivered in full. */
export function stepAt(r: BenchResult, x: SystemResult | undefined, rate: number): StepResult | undefined {
  const min = r.config.fanout.minDeliveredRatio;
  return x?.fanout?.steps.find((y) => y.deliveredRatio >= min && y.offeredMsgsPerS === rate);
}

function drainBack(d: DrainResult | undefined): string {
  if (!d) return 'n/a';
  return d.allBack ? fmt(d.allBackMs) : `not all (${d.recovered})`;
}

function machineLines(r: BenchResult): string[] {
  const m = r.machine;
  return [
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
    ...ordered(r).map((x) => `| ${x.label} | ${x.version} |`),
    `| load clients | ws ${r.versions.ws}, socket.io-client ${r.versions['socket.io-client']} (Centrifugo: the bench's JSON-protocol client on ws) |`,
    '',
  ];
}

function latencyRows(r: BenchResult): { rows: string[]; note: string } {
  const lr = r.systems.chat?.latency ?? ordered(r).find((x) => x.latency)?.latency;
  if (!lr) return { rows: [], note: '' };
  const lat = (x: SystemResult | undefined) => x?.latency?.step.latency;
  const at = `at ${fmt(lr.msgsPerS)} msg/s = ${fmt(lr.deliveriesPerS)} deliveries/s`;
  const rows = (['p50', 'p99', 'max'] as const).map((q) =>
    row(
      r,
      `latency ${q} ms ${at}`,
      (x) => lat(x)?.[q],
      1,
      q === 'p99' ? '<= 1/3 of Socket.IO (<= 0.33x)' : '',
    ),
  );
  rows.push(
    textRow(r, 'delivered in that run', (x) =>
      x.latency ? `${(x.latency.step.deliveredRatio * 100).toFixed(1)}%` : 'n/a',
    ),
  );
  const reps = (x: SystemResult) =>
    (x.latency?.repeats ?? [])
      .map(
        (st) =>
          `${fmt(st.latency.p50, 1)} / ${fmt(st.latency.p99, 1)} / ${fmt(st.latency.max, 1)}${st.cpu.other === undefined ? '' : ` (other load ${st.cpu.other} cores)`}`,
      )
      .join('; ');
  const runs = Math.max(...ordered(r).map((x) => x.latency?.repeats?.length ?? 1));
  const note =
    runs > 1
      ? `Latency: ${runs} runs of ${r.config.latency.durationMs / 1000} s on the same pods per system, the one with the median p99 in the table. Each run p50 / p99 / max ms: ${ordered(
          r,
        )
          .filter((x) => x.latency)
          .map((x) => `${x.label}: ${reps(x)}`)
          .join('. ')}.`
      : '';
  return { rows, note };
}

function drainRows(r: BenchResult): string[] {
  const drains = ordered(r).filter((x) => x.drain);
  if (drains.length === 0) return [];
  const d = (x: SystemResult | undefined) => x?.drain;
  // The server's default drain settings (the bench does not change them).
  const window = drainWindowMs(d(r.systems.chat)?.clients ?? 5000);
  return [
    row(r, 'drain storm: clients on the terminated pod', (x) => d(x)?.clients, 0, '', false),
    textRow(
      r,
      'drain storm: SIGTERM to all rejoined elsewhere, ms',
      (x) => drainBack(d(x)),
      `<= drain window + 2 s = ${fmt(window + 2000)} ms`,
    ),
    row(
      r,
      'drain storm: acked but never delivered (client x message)',
      (x) => d(x)?.audit.lost,
      0,
      '0',
      false,
    ),
    row(r, 'drain storm: duplicates', (x) => d(x)?.audit.duplicates, 0, '0', false),
    textRow(r, 'drain storm: deliveries checked / messages acked', (x) => {
      const dd = d(x);
      return dd ? `${fmt(dd.audit.checked)} / ${fmt(dd.background.acked)}` : 'n/a';
    }),
  ];
}

export function figures(
  r: BenchResult,
  profiles: {
    before?: ProfileSummary;
    after?: ProfileSummary;
    /** This server and Centrifugo + recovery at the same rate (profile.ts --label=chat / centrifugo-recovery). */
    chat?: ProfileSummary;
    centrifugo?: ProfileSummary;
  },
  ramps?: { before: BenchResult; after: BenchResult },
): string {
  const f = r.config.fanout;
  const lines: string[] = [...machineLines(r), ...header(r)];
  const peak: Value = (x) => x?.fanout?.peak?.deliveriesPerS;
  lines.push(
    row(
      r,
      `fan-out peak deliveries/s (p99 <= ${f.p99BoundMs} ms, >= ${f.minDeliveredRatio * 100}% delivered)`,
      peak,
      0,
      '>= 3x Socket.IO, >= 0.80x bare',
    ),
  );
  // Pod CPU per delivery at the highest offered rate every system passed: what a delivery
  // costs the pods themselves, apart from the load clients that share the cores.
  const rate = commonRate(r);
  if (rate > 0) {
    const per = (what: 'pods' | 'load'): Value => {
      return (x) => {
        const st = stepAt(r, x, rate);
        return st ? (st.cpu[what] / st.achievedDeliveriesPerS) * 1e6 : undefined;
      };
    };
    lines.push(
      row(
        r,
        `pod CPU per delivery, µs, at ${fmt(rate)} msg/s (highest step every system delivered in full)`,
        per('pods'),
        1,
      ),
      row(r, 'load-client CPU per delivery, µs, same step', per('load'), 1, '', false),
    );
  }
  const lat = latencyRows(r);
  lines.push(...lat.rows);
  const levels = r.systems.chat?.memory?.levels ?? ordered(r).find((x) => x.memory)?.memory?.levels ?? [];
  levels.forEach((l, i) => {
    lines.push(
      row(
        r,
        `memory per idle connection, KiB, ${fmt(l.perPod)} per pod`,
        (x) => kib(x?.memory?.levels[i]?.meanBytesPerConn),
        2,
        '<= 8 KiB and <= 0.5x Socket.IO',
      ),
    );
  });
  lines.push(...drainRows(r));
  if (lat.note) lines.push('', lat.note);
  if (levels.length > 0) {
    const each = ordered(r)
      .filter((x) => x.memory)
      .map((x) => `${x.label}: ${fmt(x.memory?.levels.at(-1)?.perPod)}`)
      .join(', ');
    lines.push(
      '',
      `The larger memory level is the most each pod's 20,000-descriptor limit allows (20,000 minus the descriptors the pod already held, minus 30): ${each} idle connections per pod.`,
    );
    const busy = ordered(r)
      .filter((x) => x.memory?.levels.some((l) => l.cpu))
      .map(
        (x) => `${x.label}: ${(x.memory?.levels ?? []).map((l) => `${l.cpu?.other ?? 'n/a'}`).join(' / ')}`,
      );
    if (busy.length > 0)
      lines.push(
        '',
        `Cores used by everything else on the machine while each memory level settled (level 1 / 2): ${busy.join('; ')}.`,
      );
  }
  lines.push(...rerunLines(r));
  lines.push(
    '',
    '![fan-out curve](results/fanout.svg)',
    '',
    '![memory per connection](results/memory.svg)',
    '',
  );
  for (const x of ordered(r)) {
    if (!x.fanout) continue;
    lines.push(
      `#### Fan-out steps: ${x.label}`,
      '',
      `${x.fanout.connections} connections, ${x.fanout.rooms} rooms x ${x.fanout.members} members; a failing step is run once more before it counts; after the x${f.factor} ramp, ${f.refineSteps ?? 0} steps bisect between the last passing and the failing rate.`,
      '',
      stepsTable(x.fanout.steps),
      '',
    );
  }
  for (const x of ordered(r)) lines.push(...drainSection(x));
  if (ramps) lines.push('#### Hot path before and after', '', beforeAfter(ramps.before, ramps.after), '');
  if (profiles.chat && profiles.centrifugo) {
    lines.push(
      '#### Where the pods spend CPU per delivery: this server next to Centrifugo + recovery',
      '',
      'This server (V8 sampling profiler, self time per JS or native function):',
      '',
      profileTable(profiles.chat),
      '',
      'Centrifugo + recovery (Go pprof, flat time per function, 100 Hz):',
      '',
      profileTable(profiles.centrifugo),
      '',
    );
  }
  if (profiles.before || profiles.after) {
    lines.push('#### CPU profile of the pods under fan-out (the hot-path change)', '');
    if (profiles.before) lines.push('Before:', '', profileTable(profiles.before), '');
    if (profiles.after) lines.push('After:', '', profileTable(profiles.after), '');
  }
  for (const x of ordered(r))
    if (x.errors.length) lines.push(`Errors (${x.label}): ${x.errors.join('; ')}`, '');
  return lines.join('\n');
}
