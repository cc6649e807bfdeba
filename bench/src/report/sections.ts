/** The per-system sections of RESULTS.md: fan-out steps, CPU profiles, the hot-path before/after. */
import type { ProfileSummary } from '../profile.js';
import type { BenchResult, StepResult, SystemResult } from '../run.js';
import { LABELS } from '../systems/labels.js';
import { fmt, ratio } from './format.js';

export function stepsTable(steps: StepResult[]): string {
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

export function profileTable(p: ProfileSummary): string {
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

export function beforeAfter(before: BenchResult, after: BenchResult): string {
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

export function drainSection(x: SystemResult): string[] {
  const dd = x.drain;
  if (!dd) return [];
  return [
    `#### Drain storm: ${x.label}`,
    '',
    `- ${dd.clients} clients on the terminated pod (${dd.rooms} rooms), ${dd.observers} observers on the other pods; ` +
      `background ${dd.background.sent} messages sent, ${dd.background.acked} acked, ${dd.background.unacked} never acked, ${dd.background.resent} resends after reconnects.`,
    `- pod exit: code ${dd.drainExit.code ?? dd.drainExit.signal} after ${fmt(dd.drainExit.ms)} ms; close codes seen by clients: ${JSON.stringify(dd.closeCodes)}; client errors: ${JSON.stringify(dd.clientErrors ?? {})}; refused reconnect attempts: ${dd.refusedAttempts}.`,
    ...(dd.cpu
      ? [
          `- cores busy from SIGTERM to all back: pods ${dd.cpu.pods}, Redis ${dd.cpu.redis}, load ${dd.cpu.load}, everything else on the machine ${dd.cpu.other ?? 'n/a'}.`,
        ]
      : []),
    `- offline time per client: p50 ${fmt(dd.gapMs.p50)} ms, p99 ${fmt(dd.gapMs.p99)} ms, max ${fmt(dd.gapMs.max)} ms.`,
    `- lost ${dd.audit.lost}, duplicates ${dd.audit.duplicates}, of ${fmt(dd.audit.checked)} (client, acked message) pairs checked.${dd.audit.lostSamples.length ? ` Samples: ${dd.audit.lostSamples.slice(0, 3).join('; ')}` : ''}${dd.audit.duplicateSamples.length ? ` Duplicates: ${dd.audit.duplicateSamples.slice(0, 3).join('; ')}` : ''}`,
    '',
  ];
}

export function rerunLines(r: BenchResult): string[] {
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
    g.systems.push(LABELS[rr.system]);
    groups.set(key, g);
  }
  return [...groups.values()].flatMap((g) => [
    '',
    `Re-measured: ${g.workload} of ${g.systems.join(', ')}, at ${g.at.slice(0, 16).replace('T', ' ')} UTC (load at start \`${g.load}\`${g.version ? `; this server: ${g.version}` : ''}): ${g.why}.`,
  ]);
}
