import { join } from 'node:path';
import { RedisClusterSet, RedisSentinelSet, RedisServer, respCommand } from '@chat/testkit';

/** Which Redis the local cluster runs: one server, a Sentinel set, or a Redis Cluster. */
export type RedisMode = 'single' | 'sentinel' | 'cluster';
export const REDIS_MODES: readonly RedisMode[] = ['single', 'sentinel', 'cluster'];

/**
 * The harness's Redis tier, in one of the three shapes production runs:
 * - `single`: one redis-server (REDIS_URL);
 * - `sentinel`: a primary, 2 replicas and 3 Sentinels (REDIS_SENTINELS);
 * - `cluster`: a Redis Cluster of 3 primaries + 3 replicas with sharded pub/sub
 *   (REDIS_CLUSTER_NODES).
 * `server` is the node the harness's Redis controls (stop, pause, bounce) act on: the only
 * one, the first primary of the Sentinel set, or the first node of the cluster (a primary
 * when the cluster was created), so those controls show a failover in the other two modes.
 */
export class RedisTier {
  private readonly single: RedisServer | undefined;
  private readonly sentinels: RedisSentinelSet | undefined;
  private readonly shards: RedisClusterSet | undefined;

  constructor(
    readonly mode: RedisMode,
    dir: string,
    bin: string,
  ) {
    if (mode === 'single') this.single = new RedisServer({ dir, bin });
    else if (mode === 'sentinel') this.sentinels = new RedisSentinelSet({ dir, redisBin: bin });
    else this.shards = new RedisClusterSet({ dir: join(dir), redisBin: bin });
  }

  get server(): RedisServer {
    const server = this.single ?? this.sentinels?.servers[0] ?? this.shards?.servers[0];
    if (!server) throw new Error(`the ${this.mode} Redis has not started`);
    return server;
  }

  async start(): Promise<void> {
    await (this.single ?? this.sentinels ?? this.shards)?.start();
  }

  /** The pods' Redis settings. */
  env(): Record<string, string> {
    if (this.sentinels)
      return { REDIS_SENTINELS: this.sentinels.sentinelList, REDIS_SENTINEL_NAME: this.sentinels.name };
    if (this.shards) return { REDIS_CLUSTER_NODES: this.shards.seedList };
    return { REDIS_URL: this.server.url };
  }

  /** Pids of the redis-servers (for the orphan reaper's owner file). */
  pids(): number[] {
    const servers = this.single ? [this.single] : ((this.sentinels ?? this.shards)?.servers ?? []);
    return servers.map((s) => s.pid).filter((p) => p !== undefined);
  }

  /**
   * Every live node with its role and the CPU seconds Redis reports for itself (INFO cpu:
   * used_cpu_sys + used_cpu_user): what the bench divides by the messages of a step.
   */
  async nodeCpu(): Promise<{ port: number; role: 'primary' | 'replica'; cpuS: number }[]> {
    const servers = this.single ? [this.single] : ((this.sentinels ?? this.shards)?.servers ?? []);
    return Promise.all(
      servers
        .filter((s) => s.state === 'running')
        .map(async ({ port }) => {
          const info = String(await respCommand(port, ['INFO']));
          const field = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
          const role = /^role:master/m.test(info) ? ('primary' as const) : ('replica' as const);
          return { port, role, cpuS: field('used_cpu_sys') + field('used_cpu_user') };
        }),
    );
  }

  /** One line for the terminal. */
  describe(): string {
    if (this.sentinels)
      return `Redis Sentinel: ${this.sentinels.servers.map((s) => s.port).join(', ')} (primary + 2 replicas), sentinels ${this.sentinels.sentinelList}`;
    if (this.shards)
      return `Redis Cluster: 3 primaries + 3 replicas on ${this.shards.servers.map((s) => s.port).join(', ')} (sharded pub/sub)`;
    return `redis 127.0.0.1:${this.server.port}`;
  }

  /** Graceful (SIGTERM) or kill -9 of every process of the tier. */
  async stop(graceful: boolean): Promise<void> {
    if (this.single) await (graceful ? this.single.stop() : this.single.kill());
    else await (this.sentinels ?? this.shards)?.destroy();
  }
}
