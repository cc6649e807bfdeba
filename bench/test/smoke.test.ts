import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killTracked } from '../src/proc.js';
import { type BenchResult, runBench, SMOKE } from '../src/run.js';

/**
 * The bench at small sizes, all three systems and all four workloads, so that CI notices
 * when it rots. It checks that the numbers are sane, not that they are good.
 */
describe('bench smoke run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-bench-smoke-'));
  afterAll(() => {
    killTracked();
    rmSync(dir, { recursive: true, force: true });
  });

  it('measures every system and writes sane JSON', async () => {
    const lines: string[] = [];
    const result = await runBench(SMOKE, (system, line, transient) => {
      if (!transient) lines.push(`[${system}] ${line}`);
    });
    const file = join(dir, 'smoke.json');
    writeFileSync(file, JSON.stringify(result));
    const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;

    for (const kind of ['chat', 'socketio', 'bare'] as const) {
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

    const drain = r.systems.chat?.drain;
    expect(drain?.drainExit.code).toBe(0);
    expect(drain?.allBack).toBe(true);
    expect(drain?.background.acked ?? 0).toBeGreaterThan(0);
    expect(drain?.audit.checked ?? 0).toBeGreaterThan(0);
    expect(drain?.audit.lost, `lost: ${drain?.audit.lostSamples.join(', ')}`).toBe(0);
    expect(drain?.audit.duplicates, `duplicates: ${drain?.audit.duplicateSamples.join(', ')}`).toBe(0);
    // Socket.IO has no resume: its loss is reported, not asserted; its drain must still have run.
    expect(r.systems.socketio?.drain?.recovered ?? 0).toBeGreaterThan(0);
  });
});
