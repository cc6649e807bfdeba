import { hostname } from 'node:os';
import { DEFAULT_TOKEN_AUDIENCE, DEFAULT_TOKEN_ISSUER, DRAIN_DEFAULTS, MAX_TEXT_CHARS } from '@chat/protocol';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Bool, Int } from './config-kinds.js';
import { RedisSettings } from './config-redis.js';
import { SecuritySettings, TRUST_PROXY_PATTERN } from './config-security.js';

/**
 * Every setting of the server, read from the environment and validated once at boot. The
 * Helm chart and docker-compose.yml set these same names; `describeConfig()` documents them.
 */

export const ConfigSchema = Type.Object({
  PORT: Int({ default: 8080, maximum: 65535, description: 'HTTP and WebSocket port' }),
  HOST: Type.String({ default: '0.0.0.0', description: 'Interface to listen on' }),
  NODE_ID: Type.String({
    minLength: 1,
    maxLength: 63,
    pattern: '^[A-Za-z0-9._-]+$',
    default: '',
    description:
      'Identity of this pod in frames and metrics (the chart passes the pod name); default: hostname',
  }),
  NODE_ENV: Type.String({ default: 'development', description: 'production makes TOKEN_SECRET mandatory' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level' },
  ),
  LOG_FORMAT: Type.Union(
    ['auto', 'pretty', 'json'].map((l) => Type.Literal(l)),
    { default: 'auto', description: 'auto = readable lines when stdout is a terminal, JSON lines otherwise' },
  ),
  ...RedisSettings,
  TOKEN_SECRET: Type.String({
    default: '',
    description: 'HMAC secret (>= 32 chars) that signs tokens; empty generates one per process (dev only)',
  }),
  TOKEN_ISSUER: Type.String({ default: DEFAULT_TOKEN_ISSUER, description: 'iss claim issued and required' }),
  TOKEN_AUDIENCE: Type.String({
    default: DEFAULT_TOKEN_AUDIENCE,
    description: 'aud claim issued and required',
  }),
  TOKEN_TTL_S: Int({ default: 3600, minimum: 60, description: 'Lifetime of dev tokens in seconds' }),
  DEV_TOKENS: Bool(
    true,
    'Serve POST /api/token, which signs a token for any display name (demo auth); default false when NODE_ENV=production',
  ),
  ALLOWED_ORIGINS: Type.String({
    default: '',
    description: 'Comma-separated Origin allow-list for upgrades; empty = same origin only; * = any',
  }),
  TRUST_PROXY: Type.String({
    default: 'false',
    pattern: TRUST_PROXY_PATTERN,
    description:
      'Whose X-Forwarded-* headers to believe: false (nobody), a hop count, a list of proxy IPs/CIDRs, or true (anyone: unsafe)',
  }),
  MAX_CONNECTIONS: Int({ default: 10000, minimum: 1, description: 'Open sockets per pod before 503' }),
  MAX_PAYLOAD_BYTES: Int({
    default: 16384,
    minimum: 256,
    description: 'Largest inbound frame; bigger closes 1009',
  }),
  MAX_TEXT_CHARS: Int({
    default: 2000,
    minimum: 1,
    maximum: MAX_TEXT_CHARS,
    description: 'Longest chat message',
  }),
  MAX_ROOMS_PER_CONN: Int({ default: 20, minimum: 1, description: 'Rooms one socket may join at once' }),
  RATE_LIMIT_PER_S: Int({ default: 10, minimum: 1, description: 'Sustained frames per second per socket' }),
  RATE_LIMIT_BURST: Int({ default: 20, minimum: 1, description: 'Burst of frames per socket' }),
  USER_RATE_LIMIT_PER_S: Int({
    default: 20,
    minimum: 1,
    description: 'Sustained messages per second per user, over all of its sockets on this pod',
  }),
  USER_RATE_LIMIT_BURST: Int({ default: 40, minimum: 1, description: 'Burst of messages per user per pod' }),
  RATE_LIMIT_CLOSE_AFTER: Int({
    default: 50,
    minimum: 1,
    description: 'Frames refused for rate within 10 s before the socket is closed 4429',
  }),
  SEND_BUFFER_LIMIT_BYTES: Int({
    default: 1048576,
    minimum: 1024,
    description: 'Bytes queued to one socket before it is closed 1013 (slow consumer)',
  }),
  HEARTBEAT_MS: Int({
    default: 5000,
    minimum: 100,
    description:
      'Server ping interval; clients reconnect after 2 silent intervals, the server drops a socket silent for 2',
  }),
  HISTORY_MAXLEN: Int({ default: 1000, minimum: 10, description: 'Messages kept per room (stream MAXLEN)' }),
  HISTORY_PAGE: Int({ default: 50, minimum: 1, maximum: 500, description: 'Messages sent on a fresh join' }),
  LIVE_CHECK_MS: Int({
    default: 2000,
    minimum: 0,
    description:
      "How often each room's stream tail is compared with what was delivered live, to catch a lost last message (0 = off); a room with no traffic is read half as often after each quiet reading, down to every 16 periods",
  }),
  IDEMPOTENCY_TTL_S: Int({
    default: 86400,
    minimum: 1,
    description:
      "How long a clientMsgId is remembered to drop resends, at most while its message is in the room's history",
  }),
  ROOM_TTL_S: Int({
    default: 604800,
    minimum: 1,
    description:
      "A room's history (Redis stream and its clientMsgIds) is deleted after this many seconds without a message",
  }),
  READINESS_BROKER: Type.Union([Type.Literal('startup'), Type.Literal('always')], {
    default: 'startup',
    description:
      'When the broker decides readiness: startup = not ready until it answered once, then ready through outages (clients are told degraded); always = not ready whenever it does not answer (takes the whole fleet out of the Service when the shared Redis is down)',
  }),
  DRAIN_WINDOW_MS: Int({
    default: DRAIN_DEFAULTS.windowMs,
    description: 'On SIGTERM, open sockets are closed 1012 spread over this window',
  }),
  DRAIN_MAX_CLOSE_RATE: Int({
    default: DRAIN_DEFAULTS.maxCloseRate,
    minimum: 1,
    description: 'At most this many sockets closed per second while draining (few sockets drain fast)',
  }),
  SHUTDOWN_TIMEOUT_MS: Int({
    default: 20000,
    minimum: 1000,
    description: 'Hard deadline after SIGTERM; must exceed DRAIN_WINDOW_MS',
  }),
  REBALANCE_ENABLED: Bool(
    false,
    'After a scale-out, a pod above the fleet mean by more than REBALANCE_MARGIN_PCT closes some sockets (1012, resumed) so they reconnect to emptier pods; needs REDIS_URL',
  ),
  REBALANCE_INTERVAL_MS: Int({
    default: 2000,
    minimum: 100,
    description: 'How often a pod publishes its socket count to Redis and compares it with the fleet mean',
  }),
  REBALANCE_MARGIN_PCT: Int({
    default: 10,
    minimum: 1,
    maximum: 1000,
    description: 'A pod sheds sockets only when above the fleet mean by more than this percentage',
  }),
  REBALANCE_MAX_CLOSE_RATE: Int({
    default: 20,
    minimum: 1,
    description: 'At most this many sockets per second closed by rebalancing, per pod',
  }),
  REBALANCE_RECONNECT_HINT_MS: Int({
    default: 1000,
    maximum: 60000,
    description: 'Reconnect delay suggested in the close reason of a rebalanced socket',
  }),
  WEB_ROOT: Type.String({ default: '', description: 'Directory of the built web app; empty = auto-detect' }),
  ...SecuritySettings,
});
export type Config = Static<typeof ConfigSchema>;
export type ConfigKey = keyof Config;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment into a Config or throws a ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, schema] of Object.entries(ConfigSchema.properties) as [ConfigKey, TSchema][]) {
    const text = env[key];
    if (text === undefined || text === '') {
      raw[key] = schema.default;
      continue;
    }
    const value = coerce(schema, text.trim());
    if (value === undefined || !Value.Check(schema, value)) {
      problems.push(`${key}=${JSON.stringify(redact(key, text))}: expected ${expectation(schema)}`);
      continue;
    }
    raw[key] = value;
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  const config = raw as Config;
  if (!config.NODE_ID)
    config.NODE_ID = hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .slice(0, 63);
  if (config.TOKEN_SECRET && config.TOKEN_SECRET.length < 32) {
    throw new ConfigError('invalid configuration:\n  TOKEN_SECRET: must be at least 32 characters');
  }
  if (!config.TOKEN_SECRET && config.NODE_ENV === 'production') {
    throw new ConfigError('invalid configuration:\n  TOKEN_SECRET: required when NODE_ENV=production');
  }
  if (!env.DEV_TOKENS && config.NODE_ENV === 'production') config.DEV_TOKENS = false;
  if (config.AUTH_JWKS_URL && (!config.AUTH_JWKS_ISSUER || !config.AUTH_JWKS_AUDIENCE)) {
    throw new ConfigError(
      'invalid configuration:\n  AUTH_JWKS_ISSUER, AUTH_JWKS_AUDIENCE: required with AUTH_JWKS_URL',
    );
  }
  if (config.SHUTDOWN_TIMEOUT_MS <= config.DRAIN_WINDOW_MS) {
    throw new ConfigError(
      'invalid configuration:\n  SHUTDOWN_TIMEOUT_MS: must be greater than DRAIN_WINDOW_MS so the drain can finish',
    );
  }
  if ([config.REDIS_URL, config.REDIS_SENTINELS, config.REDIS_CLUSTER_NODES].filter(Boolean).length > 1) {
    throw new ConfigError(
      'invalid configuration:\n  REDIS_SENTINELS, REDIS_CLUSTER_NODES: set only one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES',
    );
  }
  if (config.HISTORY_PAGE > config.HISTORY_MAXLEN) {
    throw new ConfigError('invalid configuration:\n  HISTORY_PAGE: must not exceed HISTORY_MAXLEN');
  }
  return config;
}

function coerce(schema: TSchema, text: string): unknown {
  switch (schema.type) {
    case 'integer':
      return /^-?\d+$/.test(text) ? Number(text) : undefined;
    case 'boolean':
      return text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : undefined;
    default:
      return text;
  }
}

function expectation(schema: TSchema): string {
  if (schema.anyOf) return `one of ${(schema.anyOf as { const: string }[]).map((s) => s.const).join(', ')}`;
  if (schema.type === 'integer') {
    const range = [schema.minimum, schema.maximum].map((v) => (v === undefined ? '' : String(v)));
    return `an integer${range[0] || range[1] ? ` in [${range[0]}, ${range[1] || '∞'}]` : ''}`;
  }
  if (schema.type === 'boolean') return 'true or false';
  return schema.pattern ? `a string matching ${schema.pattern}` : 'a string';
}

function redact(key: string, value: string): string {
  if (key === 'TOKEN_SECRET' || key.endsWith('PASSWORD')) return '<redacted>';
  if (key === 'REDIS_URL') return value.replace(/\/\/[^@/]*@/, '//<redacted>@');
  return value;
}

/** Name, default and meaning of every setting, for --help and the README. */
export function describeConfig(): { name: ConfigKey; default: unknown; description: string }[] {
  return (Object.entries(ConfigSchema.properties) as [ConfigKey, TSchema][]).map(([name, s]) => ({
    name,
    default: s.default,
    description: String(s.description ?? ''),
  }));
}
