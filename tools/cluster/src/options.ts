import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { RedisMode } from './redis-tier.js';

/**
 * The server bundle of the @chat/server package this harness depends on (its `bin`,
 * dist/server.js, written by `pnpm build`).
 */
export const DEFAULT_SERVER_ENTRY = join(
  dirname(createRequire(import.meta.url).resolve('@chat/server/package.json')),
  'dist',
  'server.js',
);

export interface ClusterOptions {
  /** Replicas (default 3). */
  pods?: number;
  /** Load balancer port; 0 (default) picks a free one. The CLI uses 8080. */
  port?: number;
  /** Load balancer interface (default 127.0.0.1; the control API answers loopback clients only). */
  host?: string;
  /** Extra environment for every pod; wins over the harness defaults (any server setting). */
  env?: Record<string, string>;
  /** Server bundle (default apps/server/dist/server.js). */
  serverEntry?: string;
  /** Pause between taking a pod out of the balancer and its SIGTERM, like a preStop sleep (200 ms). */
  preStopMs?: number;
  /** Readiness probe interval (100 ms). */
  probeMs?: number;
  /** How long a new pod may take to become ready (20 s). */
  readyTimeoutMs?: number;
  /** After a SIGTERM, SIGKILL a pod still running after this long (30 s; keep above SHUTDOWN_TIMEOUT_MS). */
  terminationGraceMs?: number;
  /** Start a replacement when a pod is killed, as a ReplicaSet would (true). */
  replaceKilled?: boolean;
  /** Tries per WebSocket upgrade across pods on 503 / refused (3). */
  upgradeAttempts?: number;
  /** LOG_LEVEL of the pods (warn). Logs go to files under `<dir>/logs`. */
  logLevel?: string;
  /** Leave the temp dir (logs, Redis data) in place on stop (false). */
  keepDir?: boolean;
  /** redis-server binary (redis-server on PATH). */
  redisBin?: string;
  /** One Redis (default), a Sentinel set or a Redis Cluster of 3 primaries + 3 replicas. */
  redis?: RedisMode;
  /** NODE_ID prefix: pods are `<prefix>-1`, `<prefix>-2`, ... never reused (pod). */
  podPrefix?: string;
  /** Serve the control API under /__cluster/ on the balancer (true). */
  controlApi?: boolean;
  /** Start a private Prometheus scraping every pod (false); needs `apt-get install prometheus`. */
  prometheus?: boolean;
  /** prometheus binary (prometheus on PATH). */
  prometheusBin?: string;
  /** Prometheus scrape and rule evaluation interval, seconds (1). */
  scrapeIntervalS?: number;
  /** The `namespace` label of the scrape targets (chat). */
  namespace?: string;
}

/** The balancer's address is not here: only the constructor needs it, once. */
export type ResolvedOptions = Required<Omit<ClusterOptions, 'port' | 'host' | 'env'>> & {
  env: Record<string, string>;
};

export function resolveOptions(options: ClusterOptions): ResolvedOptions {
  return {
    pods: options.pods ?? 3,
    env: options.env ?? {},
    serverEntry: options.serverEntry ?? DEFAULT_SERVER_ENTRY,
    preStopMs: options.preStopMs ?? 200,
    probeMs: options.probeMs ?? 100,
    readyTimeoutMs: options.readyTimeoutMs ?? 20_000,
    terminationGraceMs: options.terminationGraceMs ?? 30_000,
    replaceKilled: options.replaceKilled ?? true,
    upgradeAttempts: options.upgradeAttempts ?? 3,
    logLevel: options.logLevel ?? 'warn',
    keepDir: options.keepDir ?? false,
    redisBin: options.redisBin ?? 'redis-server',
    redis: options.redis ?? 'single',
    podPrefix: options.podPrefix ?? 'pod',
    controlApi: options.controlApi ?? true,
    prometheus: options.prometheus ?? false,
    prometheusBin: options.prometheusBin ?? 'prometheus',
    scrapeIntervalS: options.scrapeIntervalS ?? 1,
    namespace: options.namespace ?? 'chat',
  };
}

/** What every pod of a cluster is started with, before the options' own `env`. */
export function podEnv(
  cluster: { redis: Record<string, string>; tokenSecret: string; origins: readonly string[] },
  opts: Pick<ResolvedOptions, 'logLevel' | 'env'>,
): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    ...cluster.redis,
    TOKEN_SECRET: cluster.tokenSecret,
    ALLOWED_ORIGINS: cluster.origins.join(','),
    TRUST_PROXY: 'true',
    // Every client of this one-machine cluster comes from loopback through one balancer.
    MAX_CONNECTIONS_PER_IP: '0',
    DEV_TOKEN_RATE_PER_MIN: '100000',
    LOG_LEVEL: opts.logLevel,
    ...opts.env,
  };
}
