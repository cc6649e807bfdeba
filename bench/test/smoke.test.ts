import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killTracked } from '../src/proc.js';
import { ALL_SYSTEMS, type BenchResult, runBench, SMOKE } from '../src/run.js';
import { centrifugoBinary } from '../src/systems/centrifugo.js';

/**
 * The bench at small sizes, all five systems and all four workloads, so that CI notices
 * when it rots. It checks that the numbers are sane, not that they are good. Centrifugo is
 * built once (scripts/ensure-centrifugo.sh, a few minutes) and cached in .tools/bin.
 */
describe('bench smoke run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-bench-smoke-'));
  // A cold build (no Go module or build cache) took 7.4 min on the shared 2-core box; with the
  // Go caches warm it is a ~6 s relink, and with .tools/bin in place ~20 ms.
  beforeAll(async () => {
    await centrifugoBinary();
  }, 20 * 60_000);
  afterAll(() => {
    killTracked();
    rmSync(dir, { recursive: true, force: true });
  });

  it('measures every system and writes sane JSON', async ({ onTestFailed }) => {
    const lines: string[] = [];
    // Whatever assertion fails, the run's log says what happened around it.
    onTestFailed(() => {
      process.stderr.write(`bench smoke log:\n${lines.join('\n')}\n`);
    });
    const result = await runBench(SMOKE, (system, line, transient) => {
      if (!transient) lines.push(`[${system}] ${line}`);
    });
    const file = join(dir, 'smoke.json');
    writeFileSync(file, JSON.stringify(result));
    const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;

    for (const kind of ALL_SYSTEMS) {
      const s = r.systems[kind];
      expect(s, `${kind} result`).toBeDefined();
      expect(s?.errors, `${kind} errors\n${lines.join('\n')}`).toEqual([]);
      const steps = s?.fanout?.steps ?? [];
      expect(steps.length).toBeGreaterThan(0);
      for (const step of steps) {
        expect(step.delivered, `${kind} deliveries`).toBeGreaterThan(0);
        expect(step.deliveredRatio).toBeGreaterThan(0.9);
        const l = step.latency;
        expect(l.p50).toBeGreaterThan(0);
        expect(l.p50).toBeLessThanOrEqual(l.p90);
        expect(l.p90).toBeLessThanOrEqual(l.p99);
        expect(l.p99).toBeLessThanOrEqual(l.p999);
        expect(l.p999).toBeLessThanOrEqual(l.max);
      }
      expect(s?.fanout?.peak?.deliveriesPerS ?? 0).toBeGreaterThan(0);
      expect(s?.latency?.step.delivered ?? 0).toBeGreaterThan(0);
      const mem = s?.memory?.levels[0];
      expect(mem?.failed).toBe(0);
      expect(mem?.opened).toBe((mem?.perPod ?? 0) * 3);
      for (const pod of mem?.pods ?? []) expect(pod.rssAfter).toBeGreaterThan(0);
    }

    for (const kind of ALL_SYSTEMS) {
      const d = r.systems[kind]?.drain;
      expect(d, `${kind} drain`).toBeDefined();
      expect(d?.background.acked ?? 0, `${kind} drain acked`).toBeGreaterThan(0);
      expect(d?.audit.checked ?? 0, `${kind} drain checked`).toBeGreaterThan(0);
      expect(d?.recovered ?? 0, `${kind} drain recovered`).toBeGreaterThan(0);
    }
    const drain = r.systems.chat?.drain;
    expect(drain?.drainExit.code).toBe(0);
    expect(drain?.allBack).toBe(true);
    expect(drain?.audit.lost, `lost: ${drain?.audit.lostSamples.join(', ')}`).toBe(0);
    expect(drain?.audit.duplicates, `duplicates: ${drain?.audit.duplicateSamples.join(', ')}`).toBe(0);
    expect(drain?.clientErrors?.resync ?? 0, 'chat resyncs').toBe(0);
    // The peers' losses and duplicates are figures to report, not to assert; but Centrifugo's
    // own shutdown closes every client with 3001 and exits 0, and with recovery on its
    // clients come back through history (a resync would mean recovery did not work).
    for (const kind of ['centrifugo', 'centrifugo-recovery'] as const) {
      const d = r.systems[kind]?.drain;
      expect(d?.drainExit.code, `${kind} exit`).toBe(0);
      expect(Object.keys(d?.closeCodes ?? {}), `${kind} close codes`).toEqual(['3001']);
      expect(d?.allBack, `${kind} all back`).toBe(true);
    }
    const cr = r.systems['centrifugo-recovery']?.drain;
    expect(cr?.clientErrors?.resync ?? 0, 'Centrifugo recovery failures').toBe(0);
  });
});
