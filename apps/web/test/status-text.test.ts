import type { ConnectionStatus } from '@chat/client';
import { describe, expect, it } from 'vitest';
import { describeStatus } from '../src/lib/status-text';

const open: ConnectionStatus = { state: 'open', attempt: 0, online: true, node: 'pod-1' };
const ok = { state: 'ok' } as const;

describe('the connection indicator text', () => {
  it('Connected, or Connected but degraded with the reason as detail', () => {
    expect(describeStatus(open, ok, 0)).toEqual({ text: 'Connected', tone: 'ok' });
    expect(
      describeStatus(
        open,
        { state: 'degraded', reason: 'Redis at 127.0.0.1:6390 is unreachable (ECONNREFUSED)' },
        0,
      ),
    ).toEqual({
      text: 'Connected, chat service degraded: messages wait',
      tone: 'degraded',
      detail: 'Redis at 127.0.0.1:6390 is unreachable (ECONNREFUSED)',
    });
  });

  it('counts down to the next attempt, with the last close as detail', () => {
    const waiting: ConnectionStatus = {
      state: 'reconnecting',
      attempt: 3,
      online: true,
      code: 1006,
      reason: 'heartbeat timeout',
      retryAt: 10_000,
    };
    expect(describeStatus(waiting, ok, 1_500)).toEqual({
      text: 'Reconnecting in 9 s',
      tone: 'wait',
      detail: 'Last close: 1006 (heartbeat timeout)',
    });
    expect(describeStatus(waiting, ok, 10_000).text).toBe('Reconnecting…');
    // A degraded service is not what the user needs to hear while the socket is down.
    expect(describeStatus(waiting, { state: 'degraded' }, 1_500).text).toBe('Reconnecting in 9 s');
  });

  it('offline and closed', () => {
    expect(describeStatus({ state: 'reconnecting', attempt: 1, online: false }, ok, 0).text).toBe(
      'Offline: no network',
    );
    expect(
      describeStatus(
        { state: 'closed', attempt: 0, online: true, code: 4403, reason: 'origin not allowed' },
        ok,
        0,
      ).text,
    ).toBe('Offline: origin not allowed');
  });
});
