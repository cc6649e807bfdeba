/**
 * This server on a 3-shard Redis Cluster beside the same server on one Redis: the fan-out
 * ramp on each, with what every Redis node spends per message (INFO cpu deltas over each
 * step's measured window) and the fan-out peak. On one machine the shards share its cores, so
 * the figures are a cost (CPU per message, how evenly the shards carry it), not a capacity.
 */
import type { BenchConfig } from '../config.js';
import { sleep } from '../proc.js';
import type { FanoutResult, Log, StepResult } from '../results.js';
import { startSystem } from '../systems/index.js';
import { fanout } from './fanout.js';

export interface ShardRun {
  redis: 'single' | 'cluster';
  fanout: FanoutResult;
  /**
   * At the peak step (or the last fully delivered one): each node's cores and CPU µs per
   * message, also net of what the node spends idle (cluster bus, cron, the pods' heartbeats),
   * measured for `IDLE_MS` before the ramp.
   */
  nodes: (NonNullable<StepResult['redisNodes']>[number] & { idleCores: number; netUsPerMsg: number })[];
  /** Sum over the primaries of the net CPU µs per message at that step. */
  primaryUsPerMsg: number;
  /** The same over every node (replication included). */
  totalUsPerMsg: number;
}

const IDLE_MS = 3000;

export async function shardRuns(
  cfg: BenchConfig,
  log: (redis: string, line: string) => void,
): Promise<ShardRun[]> {
  const out: ShardRun[] = [];
  for (const redis of ['single', 'cluster'] as const) {
    const sys = await startSystem('chat', { redis });
    try {
      const i0 = (await sys.redisNodeCpu?.()) ?? [];
      await sleep(IDLE_MS);
      const i1 = (await sys.redisNodeCpu?.()) ?? [];
      const idle = (port: number) =>
        ((i1.find((n) => n.port === port)?.cpuS ?? 0) - (i0.find((n) => n.port === port)?.cpuS ?? 0)) /
        (IDLE_MS / 1000);
      const l: Log = (line, transient) => {
        if (!transient) log(redis, line);
      };
      const f = await fanout(sys, cfg, l);
      const at =
        f.steps.find((s) => s.tag === f.peak?.tag) ??
        [...f.steps].reverse().find((s) => s.deliveredRatio >= cfg.fanout.minDeliveredRatio) ??
        f.steps.at(-1);
      const msgsPerS = Math.max(1, at?.offeredMsgsPerS ?? 1);
      const nodes = (at?.redisNodes ?? []).map((n) => ({
        ...n,
        idleCores: Math.round(idle(n.port) * 1000) / 1000,
        netUsPerMsg: Math.round((Math.max(0, n.cores - idle(n.port)) * 1e7) / msgsPerS) / 10,
      }));
      const sum = (ns: typeof nodes) => Math.round(ns.reduce((n, x) => n + x.netUsPerMsg, 0) * 10) / 10;
      out.push({
        redis,
        fanout: f,
        nodes,
        primaryUsPerMsg: sum(nodes.filter((n) => n.role === 'primary')),
        totalUsPerMsg: sum(nodes),
      });
      log(
        redis,
        `peak ${f.peak?.deliveriesPerS ?? 0} deliveries/s; at ${at?.offeredMsgsPerS ?? 0} msg/s: ` +
          nodes
            .map(
              (n) =>
                `${n.role} ${n.port} ${n.netUsPerMsg} µs/msg net (${n.cores} cores, ${n.idleCores} idle)`,
            )
            .join(', '),
      );
    } finally {
      await sys.stop();
    }
  }
  return out;
}
