/**
 * The compact side-by-side table of the README's "Benchmarks" section (between its
 * `<!-- bench-table:start -->` / `<!-- bench-table:end -->` markers), from the same JSON.
 */
import type { SystemKind } from '../load/protocol.js';
import type { BenchResult, SystemResult } from '../run.js';
import { COLUMNS } from '../systems/labels.js';
import { commonRate, stepAt } from './figures.js';
import { fmt, kib, ordered, ratio } from './format.js';

const VERSUS: SystemKind[] = ['centrifugo-recovery', 'socketio'];

type Value = (x: SystemResult | undefined) => number | undefined;

export function readmeTable(r: BenchResult): string {
  const systems = ordered(r);
  const row = (label: string, cells: (x: SystemResult) => string, value?: Value): string => {
    const rs = VERSUS.map((k) => (value ? ratio(value(r.systems.chat), value(r.systems[k])) : ''));
    return `| ${label} | ${systems.map(cells).join(' | ')} | ${rs.join(' | ')} |`;
  };
  const peak: Value = (x) => x?.fanout?.peak?.deliveriesPerS;
  const rate = commonRate(r);
  const cpu: Value = (x) => {
    const st = stepAt(r, x, rate);
    return st ? (st.cpu.pods / st.achievedDeliveriesPerS) * 1e6 : undefined;
  };
  const p99: Value = (x) => x?.latency?.step.latency.p99;
  const mem =
    (i: number): Value =>
    (x) =>
      kib(x?.memory?.levels[i]?.meanBytesPerConn);
  const lr = r.systems.chat?.latency;
  const levels = r.systems.chat?.memory?.levels ?? [];
  const lines = [
    `| figure | ${systems.map((x) => COLUMNS[x.kind]).join(' | ')} | ${VERSUS.map((k) => `ours / ${COLUMNS[k]}`).join(' | ')} |`,
    `|---|${systems.map(() => '--:').join('|')}|${VERSUS.map(() => '--:').join('|')}|`,
    row(`fan-out peak deliveries/s (p99 <= ${r.config.fanout.p99BoundMs} ms)`, (x) => fmt(peak(x)), peak),
  ];
  if (rate > 0)
    lines.push(row(`pod CPU per delivery, µs (at ${fmt(rate)} msg/s)`, (x) => fmt(cpu(x), 1), cpu));
  if (lr)
    lines.push(
      row(
        `publish-to-deliver p50 / p99 ms at ${fmt(lr.deliveriesPerS)} deliveries/s (50% of our peak; ratios of p99)`,
        (x) => {
          const l = x.latency?.step.latency;
          return l ? `${fmt(l.p50, 1)} / ${fmt(l.p99, 1)}` : 'n/a';
        },
        p99,
      ),
    );
  levels.forEach((l, i) => {
    lines.push(
      row(`memory per idle connection, KiB, ${fmt(l.perPod)} per pod`, (x) => fmt(mem(i)(x), 2), mem(i)),
    );
  });
  if (systems.some((x) => x.drain))
    lines.push(
      row(
        `drain of a pod holding ${fmt(r.systems.chat?.drain?.clients)} clients: all back s, lost, duplicates`,
        (x) => {
          const d = x.drain;
          if (!d) return 'n/a';
          const back = d.allBack ? fmt(d.allBackMs / 1000, 1) : 'not all';
          return `${back} s, ${fmt(d.audit.lost)}, ${fmt(d.audit.duplicates)}`;
        },
      ),
    );
  return lines.join('\n');
}
