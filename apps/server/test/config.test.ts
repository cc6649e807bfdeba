import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '../src/config.js';

describe('config', () => {
  it('has working defaults (memory broker, dev tokens)', () => {
    const c = loadConfig({});
    expect(c.REDIS_URL).toBe('');
    expect(c.PORT).toBe(8080);
    expect(c.DEV_TOKENS).toBe(true);
    expect(c.NODE_ID.length).toBeGreaterThan(0);
  });

  it('coerces and validates every variable, naming each bad one', () => {
    expect(loadConfig({ PORT: '9000', DEV_TOKENS: 'false' })).toMatchObject({
      PORT: 9000,
      DEV_TOKENS: false,
    });
    const bad = () =>
      loadConfig({ PORT: '70000', DEV_TOKENS: 'maybe', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/PORT="70000"/);
    expect(bad).toThrow(/DEV_TOKENS="maybe": expected true or false/);
    expect(bad).toThrow(/REDIS_URL/);
    expect(bad).toThrow(/LOG_LEVEL="loud": expected one of fatal/);
  });

  it('never echoes secrets in errors', () => {
    expect(() => loadConfig({ TOKEN_SECRET: 'short' })).toThrow(/TOKEN_SECRET: must be at least 32/);
    let message = '';
    try {
      loadConfig({ REDIS_URL: 'http://user:hunter2@host:6379', PORT: 'x' });
    } catch (err) {
      message = String(err);
    }
    expect(message).toMatch(/PORT="x"/);
    expect(message).toMatch(/REDIS_URL="http:\/\/<redacted>@host/);
    expect(message).not.toMatch(/hunter2/);
  });

  it('enforces cross-field rules', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/TOKEN_SECRET: required/);
    expect(() => loadConfig({ DRAIN_WINDOW_MS: '30000', SHUTDOWN_TIMEOUT_MS: '20000' })).toThrow(
      /SHUTDOWN_TIMEOUT_MS/,
    );
    expect(() => loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'c-0:6379' })).toThrow(
      /set only one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'c-0:6379,no-port' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'c-0:6379,c-1:6380' }).REDIS_CLUSTER_NODES).toBe(
      'c-0:6379,c-1:6380',
    );
  });

  it('documents every variable', () => {
    for (const v of describeConfig()) expect(v.description, v.name).not.toBe('');
  });
});
