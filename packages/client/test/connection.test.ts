import { SUBPROTOCOL } from '@chat/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClientEnvironment, EnvironmentHandlers } from '../src/index.js';
import { FakeServer } from './fake-server.js';
import { closeAllClients, FAST_BACKOFF, inState, makeClient, nextEvent, recordingTimers } from './helpers.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start({ heartbeatMs: 40, node: 'pod-a' });
});

afterEach(async () => {
  closeAllClients();
  await server.stop();
});

describe('connecting', () => {
  it('offers the token as a subprotocol and is open after welcome, with the pod id', async () => {
    const { client, states, tokenRequests } = makeClient(server);
    const welcome = nextEvent(client, 'welcome');
    client.connect();
    expect(client.state).toBe('connecting');
    expect((await welcome).node).toBe('pod-a');
    expect(client.status).toMatchObject({ state: 'open', node: 'pod-a', user: { id: 'alice' }, attempt: 0 });
    expect(states.map((s) => s.state)).toEqual(['connecting', 'open']);
    expect(tokenRequests).toEqual([{ forceRefresh: false, attempt: 0, failedBeforeOpen: 0 }]);
    const conn = await server.connection(1);
    expect(conn.token).toBe('alice');
    expect(conn.protocol).toBe(SUBPROTOCOL);
  });

  it('changes welcome only together with a state event (what a UI subscription relies on)', async () => {
    const { client } = makeClient(server, { backoff: FAST_BACKOFF });
    const seen: { state: string; maxTextChars: number | undefined }[] = [];
    client.on('state', (s) => seen.push({ state: s.state, maxTextChars: client.welcome?.maxTextChars }));
    client.connect();
    const first = await server.connection(1);
    await inState(client, 'open');
    const open = client.welcome;
    expect(open?.node).toBe('pod-a');
    first.terminate();
    await inState(client, 'reconnecting');
    expect(client.welcome).toBeUndefined();
    await inState(client, 'open');
    expect(client.welcome).not.toBe(open);
    client.close('bye');
    expect(client.welcome).toBeUndefined();
    const max = open?.maxTextChars;
    expect(max).toBeTypeOf('number');
    expect(seen).toEqual([
      { state: 'connecting', maxTextChars: undefined },
      { state: 'open', maxTextChars: max },
      { state: 'reconnecting', maxTextChars: undefined },
      { state: 'connecting', maxTextChars: undefined },
      { state: 'open', maxTextChars: max },
      { state: 'closed', maxTextChars: undefined },
    ]);
  });

  it('answers the server ping with a pong carrying the same t', async () => {
    const { client } = makeClient(server);
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    conn.send({ type: 'ping', t: 12345 });
    const pong = await server.frame('pong', (f) => f.t === 12345);
    expect(pong.frame).toEqual({ type: 'pong', t: 12345 });
  });

  it('close() closes with 1000 and never reconnects', async () => {
    const { client } = makeClient(server);
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    client.close('bye');
    expect(client.status).toMatchObject({ state: 'closed', code: 1000, reason: 'bye' });
    await server.until(() => conn.closed !== undefined);
    expect(conn.closed).toEqual({ code: 1000, reason: 'bye' });
    expect(server.connections).toHaveLength(1);
  });

  it('reports frames that do not match the protocol and keeps going', async () => {
    const { client } = makeClient(server);
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    const invalid = nextEvent(client, 'invalidFrame');
    conn.send('{"type":"msg","room":"NOPE"}');
    expect((await invalid).message).toMatch(/msg/);
    expect(client.state).toBe('open');
  });
});

describe('close codes', () => {
  it.each([
    [1000, 'done'],
    [1008, 'origin not allowed'],
    [4403, 'forbidden'],
  ])('stays closed on %i and shows why', async (code, reason) => {
    const { client, states } = makeClient(server);
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    conn.close(code, reason);
    const closed = await inState(client, 'closed');
    expect(closed).toMatchObject({ code, reason, action: 'stay-closed' });
    expect(closed.retryAt).toBeUndefined();
    expect(states.filter((s) => s.state === 'reconnecting')).toEqual([]);
    expect(server.connections).toHaveLength(1);
    expect(server.upgradeTokens).toHaveLength(1);
  });

  it.each([1001, 1012])('reconnects soon on %i within the hinted window and resumes', async (code) => {
    const { client } = makeClient(server, { random: () => 0.9 });
    client.connect();
    void client.join('general');
    const conn = await server.connection(1);
    await server.frame('join');
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    conn.close(code, 'draining;retry=30');
    const s = await reconnecting;
    expect(s).toMatchObject({
      code,
      reason: 'draining',
      action: 'reconnect-soon',
      retryInMs: 27,
      attempt: 0,
    });
    const second = await server.connection(2);
    await server.frame('join', (_f, c) => c === second);
    expect(server.framesOf('join')).toHaveLength(2);
  });

  it('reconnects soon on 1012 without a hint within soonMaxMs', async () => {
    const { client } = makeClient(server, { random: () => 0.999 });
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    conn.close(1012, '');
    const s = await reconnecting;
    expect(s.retryInMs).toBeLessThanOrEqual(FAST_BACKOFF.soonMaxMs);
    expect(s.reason).toBe('server restarting (drain during a rolling update)');
    await server.connection(2);
  });

  it.each([1011, 1009, 4000])('backs off and reconnects on %i', async (code) => {
    const { client } = makeClient(server, { random: () => 1 });
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    conn.close(code, 'oops');
    expect(await reconnecting).toMatchObject({
      code,
      reason: 'oops',
      action: 'reconnect-backoff',
      retryInMs: FAST_BACKOFF.baseMs,
      attempt: 1,
    });
    await server.connection(2);
    await inState(client, 'open');
  });

  it('backs off longer on 1013', async () => {
    const { client } = makeClient(server, { random: () => 1 });
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    conn.close(1013, 'at capacity');
    expect(await reconnecting).toMatchObject({
      action: 'reconnect-slow',
      retryInMs: FAST_BACKOFF.slowBaseMs,
    });
    await server.connection(2);
  });

  it('waits for the retry hint on 4429', async () => {
    const { client } = makeClient(server, { random: () => 0 });
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    conn.close(4429, 'slow down;retry=60');
    const s = await reconnecting;
    expect(s).toMatchObject({ action: 'reconnect-after-hint', retryInMs: 60, reason: 'slow down' });
    const second = await server.connection(2);
    expect(second).toBeDefined();
  });

  it('asks for a fresh token after 4401, then reconnects', async () => {
    const { client, tokenRequests } = makeClient(server, {
      getToken: (request) => {
        tokenRequests.push(request);
        return request.forceRefresh ? 'alice.fresh' : 'alice.stale';
      },
    });
    server.onConnection = (conn) => {
      if (conn.token.endsWith('.stale')) conn.close(4401, 'token expired');
    };
    const next = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    client.connect();
    const reconnecting = await next;
    expect(reconnecting).toMatchObject({ code: 4401, action: 'refresh-token' });
    await inState(client, 'open');
    expect(tokenRequests.map((r) => r.forceRefresh)).toEqual([false, true]);
    expect(server.connections.map((c) => c.token)).toEqual(['alice.stale', 'alice.fresh']);
  });

  it('treats a refused upgrade as 1006 and backs off exponentially up to the cap', async () => {
    server.refuseWith = 503;
    const { client, states, tokenRequests } = makeClient(server, { random: () => 1 });
    client.connect();
    await server.until(() => server.upgradeTokens.length >= 5);
    await inState(client, 'reconnecting', (s) => s.attempt >= 5);
    const delays = states.filter((s) => s.state === 'reconnecting').map((s) => s.retryInMs);
    expect(delays.slice(0, 5)).toEqual([10, 20, 40, 40, 40]);
    expect(states.find((s) => s.state === 'reconnecting')).toMatchObject({ code: 1006 });
    expect(states.some((s) => s.state === 'open')).toBe(false);
    server.refuseWith = undefined;
    await inState(client, 'open');
    // A token was asked for before every attempt, telling how many failed before open.
    expect(tokenRequests.length).toBe(server.upgradeTokens.length);
    expect(tokenRequests.slice(0, 4).map((r) => r.failedBeforeOpen)).toEqual([0, 1, 2, 3]);
    const conn = await server.connection(1);
    const next = nextEvent(client, 'state', (s) => s.state === 'connecting');
    conn.terminate();
    await next;
    expect(tokenRequests.at(-1)?.failedBeforeOpen).toBe(0);
  });

  it('keeps reconnect delays within [0, cap] and spread when at the cap', async () => {
    server.refuseWith = 503;
    const { client, states } = makeClient(server, { random: Math.random, backoff: { baseMs: 1, capMs: 8 } });
    client.connect();
    await server.until(() => server.upgradeTokens.length >= 30);
    client.close();
    const delays = states.flatMap((s) =>
      s.state === 'reconnecting' && s.retryInMs !== undefined ? [s.retryInMs] : [],
    );
    expect(delays.length).toBeGreaterThanOrEqual(29);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(8);
    }
    expect(new Set(delays.slice(5)).size).toBeGreaterThan(2);
  });

  it('resets the attempt counter once a connection stayed healthy', async () => {
    server.refuseWith = 503;
    const { client } = makeClient(server, { random: () => 1, healthyAfterMs: 50 });
    client.connect();
    await inState(client, 'reconnecting', (s) => s.attempt >= 3);
    server.refuseWith = undefined;
    const open = await inState(client, 'open');
    expect(open.attempt).toBeGreaterThanOrEqual(3);
    await nextEvent(client, 'state', (s) => s.state === 'open' && s.attempt === 0);
    const conn = await server.connection(1);
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    conn.terminate();
    expect(await reconnecting).toMatchObject({ code: 1006, retryInMs: FAST_BACKOFF.baseMs, attempt: 1 });
  });

  it('backs off when getToken fails, then tries again', async () => {
    let calls = 0;
    const { client } = makeClient(server, {
      getToken: () => {
        calls++;
        if (calls === 1) throw new Error('token service down');
        return 'alice';
      },
    });
    const reconnecting = nextEvent(client, 'state', (x) => x.state === 'reconnecting');
    client.connect();
    const s = await reconnecting;
    expect(s).toMatchObject({ code: 1006, action: 'reconnect-backoff' });
    expect(s.reason).toContain('token service down');
    await inState(client, 'open');
    expect(calls).toBe(2);
  });

  it('gives up on an attempt that never gets a welcome', async () => {
    server.welcomeNewConnections = false;
    const { client } = makeClient(server, { connectTimeoutMs: 60 });
    client.connect();
    const s = await nextEvent(client, 'state', (x) => x.state === 'reconnecting');
    expect(s).toMatchObject({ code: 1006, reason: 'connect timeout' });
    server.welcomeNewConnections = true;
    await inState(client, 'open');
    expect(server.connections).toHaveLength(2);
  });
});

describe('heartbeat watchdog', () => {
  it('detects a silent server and reconnects on the 1006 path', async () => {
    const { client } = makeClient(server);
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    const silentAt = Date.now();
    conn.silent = true;
    const s = await reconnecting;
    expect(s).toMatchObject({ code: 1006, reason: 'heartbeat timeout', action: 'reconnect-backoff' });
    // About two heartbeats (40 ms each) without a frame, not much more.
    expect(Date.now() - silentAt).toBeGreaterThanOrEqual(40);
    expect(Date.now() - silentAt).toBeLessThan(1_000);
    await server.connection(2);
    await inState(client, 'open');
  });

  it('uses heartbeatGrace × welcome.heartbeatMs unless watchdogMs is given', async () => {
    const timers = recordingTimers();
    const { client } = makeClient(server, { timers, heartbeatGrace: 3 });
    client.connect();
    await inState(client, 'open');
    // Armed for what remains of 3 × 40 ms after the welcome frame.
    expect(timers.scheduled.some((t) => t.ms > 100 && t.ms <= 120)).toBe(true);
  });
});

class FakeEnvironment implements ClientEnvironment {
  online = true;
  handlers: EnvironmentHandlers | undefined;
  isOnline(): boolean {
    return this.online;
  }
  subscribe(handlers: EnvironmentHandlers): () => void {
    this.handlers = handlers;
    return () => {
      this.handlers = undefined;
    };
  }
  set(online: boolean): void {
    this.online = online;
    if (online) this.handlers?.online();
    else this.handlers?.offline();
  }
}

describe('environment', () => {
  it('does not try while offline and connects at once when back online', async () => {
    const env = new FakeEnvironment();
    env.online = false;
    const timers = recordingTimers();
    const { client } = makeClient(server, { environment: env, timers });
    client.connect();
    expect(client.status).toMatchObject({ state: 'reconnecting', online: false, reason: 'offline' });
    expect(client.status.retryAt).toBeUndefined();
    expect(server.upgradeTokens).toHaveLength(0);
    expect(timers.scheduled).toHaveLength(0);
    env.set(true);
    await inState(client, 'open');
    expect(server.connections).toHaveLength(1);
  });

  it('cancels a scheduled retry when the network goes away', async () => {
    const env = new FakeEnvironment();
    const timers = recordingTimers();
    const { client } = makeClient(server, {
      environment: env,
      timers,
      backoff: { baseMs: 5_000, capMs: 5_000 },
    });
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    conn.terminate();
    const s = await reconnecting;
    expect(s.retryInMs).toBe(2_500);
    const retryTimer = timers.scheduled.find((t) => t.ms === 2_500);
    env.set(false);
    expect(retryTimer?.cleared).toBe(true);
    expect(client.status).toMatchObject({ state: 'reconnecting', online: false, code: 1006 });
    expect(client.status.retryAt).toBeUndefined();
    // Back online: no waiting for the 2.5 s backoff.
    env.set(true);
    await server.connection(2);
    await inState(client, 'open');
  });

  it('checks a socket that went stale while the page was hidden as soon as it is visible', async () => {
    const env = new FakeEnvironment();
    let skew = 0;
    const { client } = makeClient(server, {
      environment: env,
      now: () => Date.now() + skew,
      watchdogMs: 30_000,
    });
    client.connect();
    const conn = await server.connection(1);
    await inState(client, 'open');
    conn.silent = true;
    // Hidden for a minute: the throttled watchdog timer has not fired yet.
    skew = 60_000;
    const reconnecting = nextEvent(client, 'state', (s) => s.state === 'reconnecting');
    env.handlers?.visible();
    expect(await reconnecting).toMatchObject({ code: 1006, reason: 'heartbeat timeout' });
  });

  it('pings a fresh socket when the page becomes visible', async () => {
    const env = new FakeEnvironment();
    const { client } = makeClient(server, { environment: env });
    client.connect();
    await inState(client, 'open');
    env.handlers?.visible();
    await server.frame('ping');
    expect(client.state).toBe('open');
  });
});
