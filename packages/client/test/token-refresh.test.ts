import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { refreshDelay } from '../src/token-refresh.js';
import { FakeServer } from './fake-server.js';
import { closeAllClients, inState, makeClient, recordingTimers } from './helpers.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start({ heartbeatMs: 40, node: 'pod-a' });
});

afterEach(async () => {
  closeAllClients();
  await server.stop();
});

describe('in-band token refresh', () => {
  it('refreshes 20 % before expiry, at most 60 s before', () => {
    expect(refreshDelay(1000)).toBe(800);
    expect(refreshDelay(3_600_000)).toBe(3_540_000);
    expect(refreshDelay(0)).toBe(0);
  });

  it('sends a fresh token in a refresh frame before each expiry, on the same socket', async () => {
    server.tokenLifetimeMs = 300;
    let n = 0;
    const { client } = makeClient(server, { getToken: () => `token-${n++}` });
    client.connect();
    await inState(client, 'open');
    await server.until(() => server.framesOf('refresh').length >= 3);
    expect(server.framesOf('refresh').map((f) => f.token)).toEqual(['token-1', 'token-2', 'token-3']);
    expect(server.connections).toHaveLength(1);
    expect(client.state).toBe('open');
  });

  it('asks the app with forceRefresh for the refreshed token', async () => {
    server.tokenLifetimeMs = 200;
    const { client, tokenRequests } = makeClient(server);
    client.connect();
    await server.until(() => server.framesOf('refresh').length >= 1);
    expect(tokenRequests.at(-1)).toEqual({ forceRefresh: true, attempt: 0, failedBeforeOpen: 0 });
    expect(client.state).toBe('open');
  });

  it('tries again soon when the server refuses the new token', async () => {
    server.tokenLifetimeMs = 1000;
    let refusals = 1;
    server.acceptRefresh = () => refusals-- <= 0;
    const timers = recordingTimers();
    const { client } = makeClient(server, { timers });
    client.connect();
    await server.until(() => server.framesOf('refresh').length >= 2);
    // The retry comes well before the next regular refresh (800 ms after each refreshed).
    expect(timers.scheduled.some((t) => t.ms === 800)).toBe(true);
    expect(timers.scheduled.some((t) => t.ms > 0 && t.ms <= 100)).toBe(true);
    expect(client.state).toBe('open');
  });

  it('sends nothing with refreshTokens: false, or when the server announces no expiry', async () => {
    server.tokenLifetimeMs = 100;
    const off = makeClient(server, { refreshTokens: false });
    off.client.connect();
    await inState(off.client, 'open');
    // Eight server pings answered: well past the announced lifetime.
    await server.until(() => server.framesOf('pong').length >= 8);
    expect(server.framesOf('refresh')).toEqual([]);
    off.client.close('done');

    server.tokenLifetimeMs = undefined;
    const plain = makeClient(server);
    plain.client.connect();
    await inState(plain.client, 'open');
    const pongs = server.framesOf('pong').length;
    await server.until(() => server.framesOf('pong').length >= pongs + 8);
    expect(server.framesOf('refresh')).toEqual([]);
  });
});
