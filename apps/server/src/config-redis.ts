import { Type } from '@sinclair/typebox';
import { Bool, Int } from './config-kinds.js';

/**
 * The Redis settings of the server: one Redis, a Sentinel set or a Redis Cluster, its
 * passwords and TLS, replicated acks and the key prefix. Part of the one config schema
 * (spread into ConfigSchema in config.ts, in this order).
 */
export const RedisSettings = {
  REDIS_URL: Type.String({
    default: '',
    pattern: '^(|rediss?://.+)$',
    description: 'redis:// or rediss:// URL; empty runs the embedded in-memory broker (one process only)',
  }),
  REDIS_SENTINELS: Type.String({
    default: '',
    pattern: '^(|[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*)$',
    description:
      'Comma-separated host:port list of Redis Sentinels; when set (instead of REDIS_URL) the primary is found and followed through failovers by Sentinel',
  }),
  REDIS_CLUSTER_NODES: Type.String({
    default: '',
    pattern: '^(|[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*)$',
    description:
      'Comma-separated host:port seed list of a Redis Cluster (instead of REDIS_URL): each room lives on one shard, live fan-out uses sharded pub/sub (Redis >= 7)',
  }),
  REDIS_SENTINEL_NAME: Type.String({
    default: 'mymaster',
    minLength: 1,
    description: 'Name of the primary the Sentinels monitor (sentinel monitor <name> ...)',
  }),
  REDIS_SENTINEL_PASSWORD: Type.String({
    default: '',
    description: 'Password of the Sentinels themselves (requirepass in sentinel.conf); empty = none',
  }),
  REDIS_SENTINEL_TLS: Bool(false, 'Connect to the Sentinels over TLS'),
  REDIS_PASSWORD: Type.String({
    default: '',
    description:
      'Password of the Redis primary and replicas (Sentinel and cluster mode; with REDIS_URL it overrides a password in the URL); empty = none',
  }),
  REDIS_TLS: Bool(
    false,
    'Connect to Redis over TLS in Sentinel and cluster mode (REDIS_URL uses rediss:// instead)',
  ),
  REDIS_ACK_REPLICAS: Int({
    default: 0,
    maximum: 16,
    description:
      'Acknowledge a message only after WAIT confirms it reached this many replicas (0 = after the primary has it); a timeout answers outcome_unknown',
  }),
  REDIS_ACK_TIMEOUT_MS: Int({
    default: 1000,
    minimum: 1,
    description: 'How long a send waits for REDIS_ACK_REPLICAS replicas before answering outcome_unknown',
  }),
  REDIS_PREFIX: Type.String({
    default: 'chat:',
    maxLength: 64,
    description: 'Prefix of every Redis key and channel',
  }),
};
