import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';
import { ClusterLink } from './redis-cluster-link.js';
import { type RedisCommands, type RedisLink, SingleLink } from './redis-link.js';

type RedisConfig = Pick<
  Config,
  | 'REDIS_URL'
  | 'REDIS_SENTINELS'
  | 'REDIS_CLUSTER_NODES'
  | 'REDIS_SENTINEL_NAME'
  | 'REDIS_SENTINEL_PASSWORD'
  | 'REDIS_SENTINEL_TLS'
  | 'REDIS_PASSWORD'
  | 'REDIS_TLS'
>;

/** Whether the config names a Redis (a URL or a Sentinel set): otherwise the memory broker runs. */
export function redisConfigured(config: RedisConfig): boolean {
  return config.REDIS_URL !== '' || config.REDIS_SENTINELS !== '' || config.REDIS_CLUSTER_NODES !== '';
}

/** Where Redis is, without credentials, for log lines and the degraded-service reason. */
export function redisAddress(config: RedisConfig): string {
  if (config.REDIS_CLUSTER_NODES) return `the Redis Cluster seeded by ${config.REDIS_CLUSTER_NODES}`;
  if (config.REDIS_SENTINELS)
    return `the primary "${config.REDIS_SENTINEL_NAME}" of Sentinels ${config.REDIS_SENTINELS}`;
  try {
    const u = new URL(config.REDIS_URL);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'REDIS_URL';
  }
}

export function parseHostPorts(list: string): { host: string; port: number }[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((hostPort) => {
      const i = hostPort.lastIndexOf(':');
      return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
    });
}

/**
 * One Redis connection from config: a URL, or the current primary as reported by Sentinel.
 * In Sentinel mode ioredis asks the Sentinels for the primary on every (re)connect, and a
 * READONLY reply (a primary demoted by a failover under our feet) forces a reconnect to the new
 * one. Not `failoverDetector`: its disconnect can land while ioredis is already reconnecting,
 * which ends the connection for good (seen in the failover test).
 */
export function createRedis(config: RedisConfig, options: RedisOptions): Redis {
  const password = config.REDIS_PASSWORD || undefined;
  if (!config.REDIS_SENTINELS) {
    return new Redis(config.REDIS_URL, password ? { ...options, password } : options);
  }
  return new Redis({
    ...options,
    sentinels: parseHostPorts(config.REDIS_SENTINELS),
    name: config.REDIS_SENTINEL_NAME,
    role: 'master',
    password,
    sentinelPassword: config.REDIS_SENTINEL_PASSWORD || undefined,
    enableTLSForSentinelMode: config.REDIS_TLS,
    ...(config.REDIS_TLS ? { tls: {} } : {}),
    ...(config.REDIS_SENTINEL_TLS ? { sentinelTLS: {} } : {}),
    sentinelRetryStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2000),
    reconnectOnError: (err: Error) => (/^READONLY/.test(err.message) ? 2 : false),
  });
}

/**
 * A Redis Cluster client from config (REDIS_CLUSTER_NODES). `options` apply to every node
 * connection; the cluster refreshes its slot map every second so that a moved slot's sharded
 * subscriptions follow it soon even without a MOVED reply (see redis-cluster-link.ts).
 */
export function createCluster(config: RedisConfig, options: RedisOptions): Cluster {
  const password = config.REDIS_PASSWORD || undefined;
  const { lazyConnect, enableOfflineQueue, ...perNode } = options;
  return new Cluster(parseHostPorts(config.REDIS_CLUSTER_NODES), {
    lazyConnect,
    enableOfflineQueue,
    shardedSubscribers: true,
    slotsRefreshInterval: 1000,
    clusterRetryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1000),
    // A primary that died answers nothing: retry a moved/failed-over slot soon, not after 2 s.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    // TLS endpoints (ElastiCache, Memorystore) are certified for their announced host names.
    ...(config.REDIS_TLS ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
    redisOptions: {
      ...perNode,
      password,
      ...(config.REDIS_TLS ? { tls: {} } : {}),
    },
  });
}

/** Commands for other plugins (the fleet counts): one Redis, Sentinel's primary or a cluster. */
export function createCommands(config: RedisConfig, options: RedisOptions): RedisCommands {
  return config.REDIS_CLUSTER_NODES ? createCluster(config, options) : createRedis(config, options);
}

/**
 * The broker's link from config, and its connections by role (for the plugin's logging and
 * health events): a cluster is one client (its sharded subscribers inside), one Redis is a
 * command and a subscriber connection.
 */
export function createLink(
  config: RedisConfig,
  options: RedisOptions,
  retryMs: number,
  warn: (err: unknown, msg: string) => void,
): { link: RedisLink; conns: [string, RedisCommands][] } {
  if (config.REDIS_CLUSTER_NODES) {
    const cluster = createCluster(config, options);
    return { link: new ClusterLink(cluster, retryMs, warn), conns: [['cluster', cluster]] };
  }
  const client = createRedis(config, options);
  const subscriber = createRedis(config, { ...options, commandTimeout: undefined });
  return {
    link: new SingleLink(client, subscriber, retryMs, warn),
    conns: [
      ['client', client],
      ['subscriber', subscriber],
    ],
  };
}
