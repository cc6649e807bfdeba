import { Type } from '@sinclair/typebox';
import { Int } from './config-kinds.js';

/**
 * The security settings of the server: identity (JWKS), connection caps, frame budgets and the
 * HTTP surface. Part of the one config schema (spread into ConfigSchema in config.ts); kept in
 * their own file so the limits and what they defend against read together (see SECURITY.md).
 */

export const SecuritySettings = {
  AUTH_JWKS_URL: Type.String({
    default: '',
    pattern: '^(|https?://.+)$',
    description:
      'JWKS URL of an identity provider; set, the server also accepts its RS/ES/PS/EdDSA JWTs (sub = user id, name or preferred_username = display name)',
  }),
  AUTH_JWKS_ISSUER: Type.String({
    default: '',
    description: 'iss claim required in identity-provider tokens (required with AUTH_JWKS_URL)',
  }),
  AUTH_JWKS_AUDIENCE: Type.String({
    default: '',
    description: 'aud claim required in identity-provider tokens (required with AUTH_JWKS_URL)',
  }),
  AUTH_JWKS_COOLDOWN_MS: Int({
    default: 30000,
    description: 'Least time between two JWKS fetches (an unknown kid refetches at most this often)',
  }),
  AUTH_JWKS_CACHE_MS: Int({
    default: 600000,
    minimum: 1000,
    description: 'How long fetched JWKS keys are trusted before they are fetched again',
  }),
  AUTH_CLOCK_SKEW_S: Int({
    default: 30,
    maximum: 300,
    description: 'Clock skew tolerated on exp/nbf/iat of every token',
  }),
  DEV_TOKEN_RATE_PER_MIN: Int({
    default: 30,
    minimum: 1,
    description: 'POST /api/token requests per minute per client IP (burst of 10)',
  }),
  PROTOCOL_ERROR_CLOSE_AFTER: Int({
    default: 10,
    minimum: 1,
    description:
      'Invalid frames (bad JSON, unknown type, binary...) within 10 s before the socket is closed 1008',
  }),
  MAX_CONNECTIONS_PER_USER: Int({
    default: 16,
    description: 'Open sockets per user id on this pod before upgrades get 429; 0 = no cap',
  }),
  MAX_CONNECTIONS_PER_IP: Int({
    default: 256,
    description: 'Open sockets per client IP on this pod before upgrades get 429; 0 = no cap',
  }),
  MAX_PENDING_CONNECTIONS: Int({
    default: 256,
    minimum: 1,
    description: 'TCP connections that have not sent a request or upgrade yet; past it the oldest is dropped',
  }),
  HANDSHAKE_TIMEOUT_MS: Int({
    default: 10000,
    minimum: 100,
    description: 'A new connection must send its request headers (or upgrade) within this time',
  }),
  WS_MAX_FRAGMENTS: Int({
    default: 16,
    minimum: 1,
    description: 'Fragments allowed in one WebSocket message; more closes 1008',
  }),
  HISTORY_REPLAY_PAGE: Int({
    default: 64,
    minimum: 1,
    maximum: 10000,
    description:
      'Messages per history read (XRANGE) of a resume or heal; a longer replay reads page by page as the socket takes it',
  }),
  HISTORY_READS_PER_POD: Int({
    default: 8,
    minimum: 1,
    description:
      'Joins reading history at once on this pod (each one page at a time; heals have as many again); the others wait in line',
  }),
  HISTORY_READ_QUEUE: Int({
    default: 64,
    description:
      'Joins waiting to read history on this pod before new ones are refused `busy` (retry after 1 s)',
  }),
  HISTORY_READ_BYTES_PER_S: Int({
    default: 8388608,
    description:
      'Bytes of history this pod reads per second for joins, over all sockets (0 = no limit; heals spend it without waiting)',
  }),
  METRICS_PORT: Int({
    default: 9090,
    maximum: 65535,
    description: 'Port of the separate plain-HTTP listener serving /metrics only; 0 = any free port',
  }),
  CSP_CONNECT_SRC: Type.String({
    default: '',
    description: "Extra origins (space-separated) the web app may connect to, besides its own ('self')",
  }),
};

/**
 * `TRUST_PROXY`: whom to believe about the client address and host (X-Forwarded-For/-Host/
 * -Proto). "false" (default): nobody, the TCP peer is the client. A number: that many proxy hops
 * in front of the pod. A comma-separated list of addresses/CIDRs: those proxies. "true" trusts
 * any sender, which lets every client choose its IP: only for a proxy that overwrites the headers.
 */
export const TRUST_PROXY_PATTERN = '^(true|false|\\d{1,2}|[0-9A-Fa-f.:/]+(\\s*,\\s*[0-9A-Fa-f.:/]+)*)$';

export function trustProxyOption(
  value: string,
): boolean | string[] | ((addr: string, hop: number) => boolean) {
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    return (_addr, hop) => hop < hops;
  }
  return value.split(',').map((s) => s.trim());
}
