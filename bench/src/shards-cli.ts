/**
 * `pnpm --filter @chat/bench bench:shards [--smoke] [--out=results/shards.json]`: this server's
 * fan-out ramp on one Redis and on a 3-shard Redis Cluster (3 primaries + 3 replicas), with
 * the Redis CPU per message of every node (see workloads/shards.ts).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FULL, SMOKE } from './config.js';
import { killTracked, machine } from './proc.js';
import { buildEntries } from './systems/build.js';
import { shardRuns } from './workloads/shards.js';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { smoke: { type: 'boolean' }, out: { type: 'string' } },
});

const cfg = args.smoke ? SMOKE : FULL;
await buildEntries();
const startedAt = new Date().toISOString();
try {
  const runs = await shardRuns(cfg, (redis, line) => process.stderr.write(`[${redis}] ${line}\n`));
  const result = {
    mode: cfg.mode,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machine(),
    runs,
  };
  if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  for (const r of runs)
    process.stdout.write(
      `${r.redis}: peak ${r.fanout.peak?.deliveriesPerS ?? 0} deliveries/s (${r.fanout.peak?.msgsPerS ?? 0} msg/s); ` +
        `Redis CPU per message net of idle: primaries ${r.primaryUsPerMsg} µs, all nodes ${r.totalUsPerMsg} µs; ` +
        `per node ${r.nodes.map((n) => `${n.role}:${n.netUsPerMsg}`).join(' ')}\n`,
    );
} finally {
  killTracked();
}
