/** What the orchestrator asks after a workload: step counters, the loss audit, the recovery tally. */
import type { AuditResult, RecoveryResult, StatsResult } from './protocol.js';
import { emptyRecovery } from './protocol.js';
import { counters, errorCodes, groups, tagStats } from './state.js';

export function audit(acked: Record<string, string[]>): AuditResult {
  let lost = 0;
  let duplicates = 0;
  let checked = 0;
  const lostSamples: string[] = [];
  const duplicateSamples: string[] = [];
  for (const { spec, clients } of groups.values()) {
    if (!spec.track) continue;
    for (const c of clients) {
      const got = c.received;
      if (!got) continue;
      for (const [id, n] of got) {
        if (n <= 1) continue;
        duplicates += n - 1;
        if (duplicateSamples.length < 10) duplicateSamples.push(`${spec.group}#${c.index} ${id} x${n}`);
      }
      for (const room of c.rooms) {
        for (const id of acked[room] ?? []) {
          checked++;
          if (!got.has(id)) {
            lost++;
            if (lostSamples.length < 10) lostSamples.push(`${spec.group}#${c.index} ${room} ${id}`);
          }
        }
      }
    }
  }
  return { lost, duplicates, checked, lostSamples, duplicateSamples };
}

export function recovery(group: string): RecoveryResult {
  const clients = groups.get(group)?.clients ?? [];
  const res: RecoveryResult = {
    ...emptyRecovery(),
    clients: clients.length,
    errors: Object.fromEntries(errorCodes),
  };
  for (const c of clients) {
    if (c.closes === 0) continue;
    for (const [code, n] of c.closeCodes) res.closeCodes[code] = (res.closeCodes[code] ?? 0) + n;
    res.reconnectAttempts += c.attempts + c.recoveries;
    res.refused += c.refused;
    if (res.firstCloseUs === 0 || c.closedAtUs < res.firstCloseUs) res.firstCloseUs = c.closedAtUs;
    if (c.state === 'open' && c.rejoinedAtUs >= c.closedAtUs) {
      res.recovered++;
      res.lastRejoinUs = Math.max(res.lastRejoinUs, c.rejoinedAtUs);
      res.gapsUs.push(Math.round(c.rejoinedAtUs - c.closedAtUs));
    } else res.down++;
  }
  res.gapsUs.sort((a, b) => a - b);
  return res;
}

export function statsOf(tag: number): StatsResult {
  const s = tagStats(tag);
  return {
    hist: s.hist.toJSON(),
    delivered: s.delivered,
    sent: s.sent,
    acked: s.acked,
    expected: s.expected,
    errors: counters.errors,
  };
}
