import { CLOSE_CODES } from '@chat/protocol';
import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_BACKOFF, planReconnect } from '../src/backoff.js';

const opts = { baseMs: 100, capMs: 1_000, slowBaseMs: 1_000, slowCapMs: 10_000, soonMaxMs: 2_000 };

describe('backoffDelay (full jitter, cap before jitter)', () => {
  it('stays within [0, min(cap, base * 2^attempt)] for every attempt', () => {
    for (let attempt = 0; attempt < 60; attempt++) {
      const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** attempt);
      for (const r of [0, 0.01, 0.5, 0.999, 1]) {
        const d = backoffDelay(attempt, opts.baseMs, opts.capMs, () => r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it('grows exponentially until the cap', () => {
    const top = (a: number) => backoffDelay(a, opts.baseMs, opts.capMs, () => 1);
    expect([0, 1, 2, 3, 4, 5, 30, 1_000].map(top)).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000]);
  });

  it('keeps clients spread over [0, cap] once at the cap (the jitter applies after it)', () => {
    const delays = Array.from({ length: 500 }, () => backoffDelay(40, opts.baseMs, opts.capMs, Math.random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(opts.capMs);
    expect(new Set(delays).size).toBeGreaterThan(300);
    expect(Math.min(...delays)).toBeLessThan(opts.capMs * 0.1);
    expect(Math.max(...delays)).toBeGreaterThan(opts.capMs * 0.9);
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(mean).toBeGreaterThan(opts.capMs * 0.4);
    expect(mean).toBeLessThan(opts.capMs * 0.6);
  });

  it('ignores a random source that strays outside [0, 1]', () => {
    expect(backoffDelay(0, 100, 1_000, () => 7)).toBe(100);
    expect(backoffDelay(0, 100, 1_000, () => -1)).toBe(0);
    expect(backoffDelay(0, 100, 1_000, () => Number.NaN)).toBe(0);
  });

  it('has sane defaults', () => {
    expect(DEFAULT_BACKOFF.baseMs).toBeLessThan(DEFAULT_BACKOFF.capMs);
    expect(DEFAULT_BACKOFF.slowBaseMs).toBeGreaterThan(DEFAULT_BACKOFF.baseMs);
  });
});

describe('planReconnect', () => {
  const half = () => 0.5;

  it.each([1000, 1008, 4403])('stays closed on %i', (code) => {
    expect(planReconnect(code, 'bye', 3, opts, half)).toEqual({ action: 'stay-closed', message: 'bye' });
  });

  it.each([1001, 1012])(
    'reconnects soon on %i, within the hinted window, without raising the attempt',
    (code) => {
      const hinted = planReconnect(code, 'draining;retry=400', 3, opts, half);
      expect(hinted).toMatchObject({
        action: 'reconnect-soon',
        delayMs: 200,
        nextAttempt: 3,
        message: 'draining',
      });
      const bare = planReconnect(code, '', 3, opts, () => 0.999);
      expect(bare.action).toBe('reconnect-soon');
      if (bare.action === 'stay-closed') throw new Error('unreachable');
      expect(bare.delayMs).toBeLessThanOrEqual(opts.soonMaxMs);
      expect(bare.delayMs).toBeGreaterThan(opts.soonMaxMs * 0.9);
    },
  );

  it.each([1006, 1009, 1011, 4000, 4999])('backs off exponentially on %i', (code) => {
    expect(planReconnect(code, '', 2, opts, () => 1)).toMatchObject({
      action: 'reconnect-backoff',
      delayMs: 400,
      nextAttempt: 3,
      refreshToken: false,
    });
  });

  it('backs off longer on 1013', () => {
    expect(planReconnect(1013, 'full', 1, opts, () => 1)).toMatchObject({
      action: 'reconnect-slow',
      delayMs: 2_000,
      nextAttempt: 2,
    });
  });

  it('refreshes the token on 4401', () => {
    expect(planReconnect(4401, 'expired', 0, opts, half)).toMatchObject({
      action: 'refresh-token',
      refreshToken: true,
      delayMs: 50,
    });
  });

  it('waits for the retry hint on 4429, or a slow backoff without one', () => {
    const hinted = planReconnect(4429, 'slow down;retry=3000', 0, opts, () => 0);
    expect(hinted).toMatchObject({ action: 'reconnect-after-hint', delayMs: 3_000, message: 'slow down' });
    const jittered = planReconnect(4429, 'slow down;retry=3000', 0, opts, () => 0.999);
    if (jittered.action === 'stay-closed') throw new Error('unreachable');
    expect(jittered.delayMs).toBeGreaterThanOrEqual(3_000);
    expect(jittered.delayMs).toBeLessThanOrEqual(3_000 + opts.baseMs);
    expect(planReconnect(4429, 'slow down', 0, opts, () => 1)).toMatchObject({ delayMs: opts.slowBaseMs });
  });

  it('has a plan for every documented close code', () => {
    for (const { code, action } of CLOSE_CODES)
      expect(planReconnect(code, '', 0, opts, half).action).toBe(action);
  });
});
