import { type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
import { browserEnvironment, type ClientEnvironment } from './environment.js';
import type { ChatClientOptions, Timers, WebSocketConstructor } from './types.js';

/** ChatClientOptions with every default applied, shared by the client's parts. */
export interface Settings {
  url: string;
  getToken: ChatClientOptions['getToken'];
  WebSocket: WebSocketConstructor | undefined;
  backoff: BackoffOptions;
  heartbeatGrace: number;
  watchdogMs: number | undefined;
  connectTimeoutMs: number;
  healthyAfterMs: number;
  ackTimeoutMs: number;
  sendRetryMs: number;
  history: number;
  dedupeWindow: number;
  random: () => number;
  now: () => number;
  timers: Timers;
  environment: ClientEnvironment | undefined;
  createId: () => string;
  refreshTokens: boolean;
}

const defaultTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};

export function resolveSettings(options: ChatClientOptions): Settings {
  return {
    url: options.url,
    getToken: options.getToken,
    WebSocket: options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
    backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    heartbeatGrace: options.heartbeatGrace ?? 2,
    watchdogMs: options.watchdogMs,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    healthyAfterMs: options.healthyAfterMs ?? 10_000,
    ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
    sendRetryMs: options.sendRetryMs ?? 1_000,
    history: Math.max(0, options.history ?? 500),
    dedupeWindow: Math.max(1, options.dedupeWindow ?? 1_000),
    random: options.random ?? Math.random,
    now: options.now ?? Date.now,
    timers: options.timers ?? defaultTimers,
    // null means "none", even in a browser (tests, embedded use).
    environment: options.environment === null ? undefined : (options.environment ?? browserEnvironment()),
    createId: options.createId ?? randomId,
    refreshTokens: options.refreshTokens ?? true,
  };
}

/** crypto.randomUUID needs a secure context; getRandomValues does not. */
function randomId(): string {
  const c = (
    globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } }
  ).crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof c?.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
