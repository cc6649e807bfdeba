import { afterAll, describe, expect, it } from 'vitest';
import { SMOKE } from '../src/config.js';
import { killTracked } from '../src/proc.js';
import { buildEntries } from '../src/systems/build.js';
import { shardRuns } from '../src/workloads/shards.js';

/** The single-Redis vs 3-shard Redis Cluster run at smoke sizes, so that it does not rot. */
describe('bench: this server on one Redis and on a 3-shard Redis Cluster', () => {
  afterAll(() => killTracked());

  it('ramps both and reads every node’s CPU per message', async () => {
    await buildEntries();
    const lines: string[] = [];
    const [single, cluster] = await shardRuns(SMOKE, (redis, line) => lines.push(`[${redis}] ${line}`));
    expect(single?.redis).toBe('single');
    expect(cluster?.redis).toBe('cluster');
    for (const r of [single, cluster]) {
      expect(r?.fanout.peak?.deliveriesPerS ?? 0, lines.join('\n')).toBeGreaterThan(0);
      for (const step of r?.fanout.steps ?? []) expect(step.deliveredRatio).toBeGreaterThan(0.9);
    }
    expect(single?.nodes.map((n) => n.role)).toEqual(['primary']);
    const roles = (cluster?.nodes ?? []).map((n) => n.role).sort();
    expect(roles).toEqual(['primary', 'primary', 'primary', 'replica', 'replica', 'replica']);
    for (const n of [...(single?.nodes ?? []), ...(cluster?.nodes ?? [])]) {
      expect(n.cores).toBeGreaterThan(0);
      expect(Number.isFinite(n.netUsPerMsg)).toBe(true);
    }
  }, 120_000);
});
