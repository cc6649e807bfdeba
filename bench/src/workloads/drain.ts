/** Workload 4: the drain storm: one pod holding most clients gets SIGTERM under a steady publish. */
import type { BenchConfig } from '../config.js';
import type { AuditResult, BackgroundResult, RecoveryResult } from '../load/protocol.js';
import { emptyRecovery, nowUs } from '../load/protocol.js';
import { sleep } from '../proc.js';
import type { DrainResult, Log } from '../results.js';
import type { RunningSystem } from '../systems/index.js';
import { Workers } from '../workers.js';
import { cores, cpuSample, nonce, openGroup } from './common.js';

export async function drain(sys: RunningSystem, cfg: BenchConfig, log: Log): Promise<DrainResult> {
  const d = cfg.drain;
  const [victim, ...others] = sys.pods;
  if (!victim || others.length === 0) throw new Error('drain needs at least two pods');
  const otherUrls = others.map((p) => p.url);
  const w = await Workers.start(cfg.workers);
  try {
    await w.all({ t: 'reconnectUrls', urls: otherUrls });
    const base = {
      system: sys.kind,
      rooms: d.rooms,
      roomPrefix: `${nonce}-drain-`,
      track: true,
      reconnect: true,
      ...(sys.tokenSecret ? { tokenSecret: sys.tokenSecret } : {}),
      textPad: cfg.textPad,
    };
    const v = await openGroup(
      w,
      { ...base, group: 'victims', urls: [victim.url], total: d.clients, publishers: true },
      cfg.connectConcurrency,
      log,
      `drain: clients on ${victim.id}`,
    );
    const o = await openGroup(
      w,
      {
        ...base,
        group: 'observers',
        urls: otherUrls,
        total: d.rooms * d.observersPerRoom,
        publishers: false,
      },
      cfg.connectConcurrency,
      log,
      'drain: observers',
    );
    if (v.failed + o.failed > 0)
      throw new Error(`drain: ${v.failed + o.failed} clients failed: ${v.firstError ?? o.firstError}`);
    log(`drain: ${v.opened} clients on ${victim.id}, ${o.opened} observers on the other pods`);
    await sleep(cfg.settleMs);
    await w.all({ t: 'startBackground', tag: 1, ratePerPublisher: d.ratePerPublisher });
    await sleep(d.beforeMs);
    const t0 = nowUs();
    log(`drain: SIGTERM ${victim.id} holding ${v.opened} clients`);
    const c0 = cpuSample(sys, w);
    const exiting = sys.terminate(victim.id);
    let rec: RecoveryResult = emptyRecovery();
    const deadline = performance.now() + d.timeoutMs;
    while (performance.now() < deadline) {
      await sleep(250);
      rec = mergeRecovery(await w.all({ t: 'recovery', group: 'victims' }));
      const elapsed = ((nowUs() - t0) / 1e6).toFixed(1);
      log(`drain: ${elapsed} s: ${rec.recovered}/${v.opened} back on other pods, ${rec.down} down`, true);
      if (rec.recovered >= v.opened) break;
    }
    const cpu = cores(c0, cpuSample(sys, w));
    const exit = await exiting;
    log(`drain: ${victim.id} exited ${exit.code ?? exit.signal} after ${exit.ms} ms`);
    await sleep(d.afterMs);
    const bgs = await w.all({ t: 'stopBackground', waitAcksMs: 10_000 });
    await sleep(cfg.settleMs * 1.5);
    const ackedParts = await w.all({ t: 'acked' });
    const acked: Record<string, string[]> = {};
    for (const part of ackedParts)
      for (const [room, ids] of Object.entries(part)) acked[room] = [...(acked[room] ?? []), ...ids];
    const audits = await w.all({ t: 'audit', acked });
    const audit: AuditResult = { lost: 0, duplicates: 0, checked: 0, lostSamples: [], duplicateSamples: [] };
    for (const a of audits) {
      audit.lost += a.lost;
      audit.duplicates += a.duplicates;
      audit.checked += a.checked;
      audit.lostSamples.push(...a.lostSamples.slice(0, 10 - audit.lostSamples.length));
      audit.duplicateSamples.push(...a.duplicateSamples.slice(0, 10 - audit.duplicateSamples.length));
    }
    const background: BackgroundResult = { sent: 0, acked: 0, unacked: 0, resent: 0 };
    for (const b of bgs) {
      background.sent += b.sent;
      background.acked += b.acked;
      background.unacked += b.unacked;
      background.resent += b.resent;
    }
    const gaps = rec.gapsUs;
    const q = (p: number) =>
      Math.round((gaps[Math.min(gaps.length - 1, Math.ceil(p * gaps.length) - 1)] ?? 0) / 1000);
    return {
      clients: v.opened,
      rooms: d.rooms,
      observers: o.opened,
      drainExit: exit,
      allBack: rec.recovered >= v.opened,
      allBackMs: rec.lastRejoinUs > 0 ? Math.round((rec.lastRejoinUs - t0) / 1000) : -1,
      recovered: rec.recovered,
      down: rec.down,
      gapMs: { p50: q(0.5), p99: q(0.99), max: q(1) },
      cpu,
      closeCodes: rec.closeCodes,
      clientErrors: rec.errors,
      refusedAttempts: rec.refused,
      background,
      audit,
    };
  } finally {
    await w.all({ t: 'closeAll' }).catch(() => {});
    await w.stop();
  }
}

function mergeRecovery(list: RecoveryResult[]): RecoveryResult {
  const out = emptyRecovery();
  for (const r of list) {
    out.clients += r.clients;
    out.recovered += r.recovered;
    out.down += r.down;
    out.reconnectAttempts += r.reconnectAttempts;
    out.refused += r.refused;
    if (r.firstCloseUs > 0 && (out.firstCloseUs === 0 || r.firstCloseUs < out.firstCloseUs))
      out.firstCloseUs = r.firstCloseUs;
    out.lastRejoinUs = Math.max(out.lastRejoinUs, r.lastRejoinUs);
    out.gapsUs.push(...r.gapsUs);
    for (const [c, n] of Object.entries(r.closeCodes)) out.closeCodes[c] = (out.closeCodes[c] ?? 0) + n;
    for (const [c, n] of Object.entries(r.errors)) out.errors[c] = (out.errors[c] ?? 0) + n;
  }
  out.gapsUs.sort((a, b) => a - b);
  return out;
}

/** Runs every selected workload against every selected system and returns the raw figures. */
