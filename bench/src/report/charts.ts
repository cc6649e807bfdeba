/** The two charts of RESULTS.md, drawn with vega-lite + vega in Node (no browser), one colour per system. */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { BenchResult } from '../run.js';
import { LABELS } from '../systems/labels.js';
import { fmt, ordered } from './format.js';

async function svg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}

/** One colour per system, in the tables' order, the same in both charts. */
function systemColor(r: BenchResult) {
  return {
    field: 'system',
    type: 'nominal' as const,
    title: null,
    scale: { domain: ordered(r).map((s) => LABELS[s.kind]) },
    legend: { labelLimit: 300 },
  };
}

export async function fanoutChart(r: BenchResult): Promise<string> {
  const values: { system: string; offered: number; p99: number; pass: string }[] = [];
  for (const s of ordered(r)) {
    for (const step of s.fanout?.steps ?? []) {
      values.push({
        system: LABELS[s.kind],
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
          color: systemColor(r),
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
  for (const s of ordered(r))
    for (const [i, l] of (s.memory?.levels ?? []).entries()) perLevel[i] = [...(perLevel[i] ?? []), l.perPod];
  const label = (i: number) => {
    const ns = perLevel[i] ?? [];
    const lo = Math.min(...ns);
    const hi = Math.max(...ns);
    return `${i + 1}. ${lo === hi ? fmt(lo) : `${fmt(lo)}-${fmt(hi)}`} per pod`;
  };
  for (const s of ordered(r)) {
    for (const [i, l] of (s.memory?.levels ?? []).entries()) {
      values.push({
        system: LABELS[s.kind],
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
      color: systemColor(r),
      tooltip: [{ field: 'kib' }],
    },
  });
}
