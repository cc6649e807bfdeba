import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';

type RedisConfig = Pick<
  Config,
  | 'REDIS_URL'
  | 'REDIS_SENTINELS'
  | 'REDIS_SENTINEL_NAME'
  | 'REDIS_SENTINEL_PASSWORD'
  | 'REDIS_SENTINEL_TLS'
  | 'REDIS_PASSWORD'
  | 'REDIS_TLS'
>;

/** Whether the config names a Redis (a URL or a Sentinel set): otherwise the memory broker runs. */
export function redisConfigured(config: RedisConfig): boolean {
  return config.REDIS_URL !== '' || config.REDIS_SENTINELS !== '';
}

/** Where Redis is, without credentials, for log lines and the degraded-service reason. */
export function redisAddress(config: RedisConfig): string {
  if (config.REDIS_SENTINELS)
    return `the primary "${config.REDIS_SENTINEL_NAME}" of Sentinels ${config.REDIS_SENTINELS}`;
  try {
    const u = new URL(config.REDIS_URL);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'REDIS_URL';
  }
}

export function parseSentinels(list: string): { host: string; port: number }[] {
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
    sentinels: parseSentinels(config.REDIS_SENTINELS),
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
