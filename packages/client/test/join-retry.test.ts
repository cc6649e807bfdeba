import type { ChatMessage } from '@chat/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeServer, type JoinBehaviour } from './fake-server.js';
import { closeAllClients, makeClient, nextEvent, recordingTimers } from './helpers.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start({ heartbeatMs: 1_000 });
});

afterEach(async () => {
  closeAllClients();
  await server.stop();
});

/**
 * Absence ("no further join is sent") is checked on the client's recorded timers rather than by
 * waiting: a retry can only come from its timer, so a timer cleared before it fired proves it.
 * With FAST_BACKOFF and random() = 0.5 a retry after a hint of h ms is scheduled at
 * min(h, 80) + 5 ms.
 */
function retryTimer(timers: ReturnType<typeof recordingTimers>, ms: number) {
  const found = timers.scheduled.filter((t) => t.ms === ms);
  expect(found).toHaveLength(1);
  return found[0];
}

/** The next joins of `room` get these answers, one each, in order; later ones succeed. */
function refuseJoins(room: string, ...answers: JoinBehaviour[]): void {
  server.joinBehaviour = (frame) => (frame.room === room ? (answers.shift() ?? 'join') : 'join');
}

function joinsOf(room: string) {
  return server.received.filter((r) => r.frame.type === 'join' && r.frame.room === room);
}

/** Whether a promise has settled yet, without waiting for it. */
function track<T>(promise: Promise<T>): { settled: () => boolean } {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { settled: () => settled };
}

describe('join refused with a retryable error', () => {
  it('asks again on the same socket after retryAfterMs, and the join resolves then', async () => {
    refuseJoins('general', { error: 'unavailable', retryAfterMs: 60 });
    const timers = recordingTimers();
    const { client } = makeClient(server, { timers });
    client.connect();
    const refused = nextEvent(client, 'error');
    const join = client.join('general');
    const state = track(join);
    expect(await refused).toMatchObject({ code: 'unavailable', ref: 'general', retryAfterMs: 60 });
    expect(retryTimer(timers, 65)).toMatchObject({ fired: false, cleared: false });
    expect(state.settled()).toBe(false);
    expect(client.rooms).toEqual(['general']);
    expect(client.getRoom('general')?.joined).toBe(false);

    await expect(join).resolves.toEqual({ room: 'general', resumed: false, resync: false });
    const [first, second, ...more] = joinsOf('general');
    expect(more).toEqual([]);
    expect(second?.conn).toBe(first?.conn);
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(55);
    expect(second?.frame).toEqual({ type: 'join', room: 'general' });
    expect(server.connections).toHaveLength(1);
    expect(client.getRoom('general')?.joined).toBe(true);
  });

  it('asks again after a `busy` refusal (the pod is reading as much history as it allows)', async () => {
    refuseJoins('general', { error: 'busy', retryAfterMs: 40 }, { error: 'busy', retryAfterMs: 40 });
    const { client } = makeClient(server);
    client.connect();
    await expect(client.join('general')).resolves.toEqual({ room: 'general', resumed: false, resync: false });
    const joins = joinsOf('general');
    expect(joins).toHaveLength(3);
    expect(new Set(joins.map((j) => j.conn)).size).toBe(1);
  });

  it('keeps `since` when a resume is refused, and still gets the gap without duplicates', async () => {
    const { client } = makeClient(server);
    const received: ChatMessage[] = [];
    client.on('message', (m) => received.push(m));
    client.connect();
    await client.join('general');
    const one = server.publish('general', 'one');
    await nextEvent(client, 'message', (m) => m.id === one.id);

    refuseJoins('general', { error: 'unavailable', retryAfterMs: 30 });
    (await server.connection(1)).terminate();
    server.publish('general', 'two');
    const second = await server.connection(2);
    const resumed = nextEvent(client, 'joined');
    await nextEvent(client, 'message', (m) => m.text === 'two');

    const onSecond = joinsOf('general').filter((r) => r.conn === second);
    expect(onSecond.map((r) => r.frame)).toEqual([
      { type: 'join', room: 'general', since: one.id },
      { type: 'join', room: 'general', since: one.id },
    ]);
    expect((await resumed).resumed).toBe(true);
    expect(received.map((m) => m.text)).toEqual(['one', 'two']);
    expect(client.getRoom('general')?.joined).toBe(true);
  });

  it('without a hint waits sendRetryMs, doubling per refusal up to the cap, plus jitter', async () => {
    refuseJoins('general', { error: 'unavailable' }, { error: 'rate_limited' }, { error: 'internal' });
    const timers = recordingTimers();
    // FAST_BACKOFF: baseMs 10 (jitter ≤ 10), capMs 40; random() is 0.5.
    const { client } = makeClient(server, { timers, sendRetryMs: 20 });
    const codes: string[] = [];
    client.on('error', (e) => codes.push(e.code));
    client.connect();
    await expect(client.join('general')).resolves.toMatchObject({ room: 'general' });
    expect(codes).toEqual(['unavailable', 'rate_limited', 'internal']);
    expect(joinsOf('general')).toHaveLength(4);
    expect(timers.scheduled.filter((t) => t.ms < 1_000).map((t) => t.ms)).toEqual([25, 45, 45]);
  });

  it('rejects the join and drops the room if a retry is then refused for good', async () => {
    refuseJoins('general', { error: 'unavailable', retryAfterMs: 20 }, { error: 'forbidden_room' });
    const { client } = makeClient(server);
    client.connect();
    await expect(client.join('general')).rejects.toMatchObject({ code: 'forbidden_room', ref: 'general' });
    expect(client.rooms).toEqual([]);
    expect(joinsOf('general')).toHaveLength(2);
  });

  it('leave() while a retry waits rejects the join and sends no more joins', async () => {
    refuseJoins('general', { error: 'unavailable', retryAfterMs: 60 });
    const timers = recordingTimers();
    const { client } = makeClient(server, { timers });
    client.connect();
    const refused = nextEvent(client, 'error');
    const join = client.join('general');
    await refused;
    client.leave('general');
    await expect(join).rejects.toMatchObject({ code: 'left' });
    expect(retryTimer(timers, 65)).toMatchObject({ fired: false, cleared: true });
    expect(joinsOf('general')).toHaveLength(1);
  });

  it('a reconnect while a retry waits re-joins once on the new socket, not twice', async () => {
    refuseJoins('general', { error: 'unavailable', retryAfterMs: 150 });
    const timers = recordingTimers();
    const { client } = makeClient(server, { timers });
    client.connect();
    const refused = nextEvent(client, 'error');
    const join = client.join('general');
    await refused;
    (await server.connection(1)).terminate();
    const second = await server.connection(2);
    await expect(join).resolves.toMatchObject({ room: 'general' });
    expect(retryTimer(timers, 85)).toMatchObject({ fired: false, cleared: true });
    expect(joinsOf('general').map((r) => r.conn.id)).toEqual(['conn-1', second.id]);
  });

  it('close() cancels a waiting retry; the join resolves after the next connect()', async () => {
    refuseJoins('general', { error: 'unavailable', retryAfterMs: 50 });
    const timers = recordingTimers();
    const { client } = makeClient(server, { timers });
    client.connect();
    const refused = nextEvent(client, 'error');
    const join = client.join('general');
    const state = track(join);
    await refused;
    client.close();
    expect(retryTimer(timers, 55)).toMatchObject({ fired: false, cleared: true });
    expect(joinsOf('general')).toHaveLength(1);
    expect(state.settled()).toBe(false);
    client.connect();
    await expect(join).resolves.toMatchObject({ room: 'general' });
    expect(joinsOf('general')).toHaveLength(2);
  });

  it('sends messages typed meanwhile once the retried join succeeds', async () => {
    refuseJoins('general', { error: 'unavailable', retryAfterMs: 40 });
    const { client } = makeClient(server);
    client.connect();
    const refused = nextEvent(client, 'error');
    const join = client.join('general');
    await refused;
    const sent = client.send('general', 'typed while refused');
    expect(server.framesOf('send')).toEqual([]);
    expect(client.getRoom('general')?.pending.map((p) => p.status)).toEqual(['queued']);
    await join;
    await expect(sent).resolves.toMatchObject({ room: 'general', duplicate: false });
    const order = server.received.map((r) => r.frame.type).filter((t) => t === 'join' || t === 'send');
    expect(order).toEqual(['join', 'join', 'send']);
  });

  it('ignores a retryable error about a room that is joined or unknown', async () => {
    const timers = recordingTimers();
    const { client } = makeClient(server, { timers });
    client.connect();
    await client.join('general');
    const conn = await server.connection(1);
    const errors = nextEvent(client, 'error', (e) => e.ref === 'nowhere');
    conn.send({ type: 'error', code: 'unavailable', message: 'x', ref: 'general', retryAfterMs: 10 });
    conn.send({ type: 'error', code: 'unavailable', message: 'x', ref: 'nowhere', retryAfterMs: 10 });
    await errors;
    expect(timers.scheduled.filter((t) => t.ms < 100)).toEqual([]); // no retry (it would be at 15 ms)
    expect(server.framesOf('join')).toHaveLength(1);
    expect(client.rooms).toEqual(['general']);
    expect(client.getRoom('general')?.joined).toBe(true);
  });
});
