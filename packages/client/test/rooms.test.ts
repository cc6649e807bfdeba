import type { ChatMessage } from '@chat/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChatClientError } from '../src/index.js';
import { FakeServer } from './fake-server.js';
import { closeAllClients, inState, makeClient, nextEvent } from './helpers.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start({ heartbeatMs: 1_000, pageSize: 3 });
});

afterEach(async () => {
  closeAllClients();
  await server.stop();
});

/** A connected client that has joined `room`. */
async function joined(room = 'general', overrides: Parameters<typeof makeClient>[1] = {}) {
  const t = makeClient(server, overrides);
  const received: ChatMessage[] = [];
  t.client.on('message', (m) => received.push(m));
  t.client.connect();
  await t.client.join(room);
  return { ...t, received };
}

describe('join and history', () => {
  it('joins without since the first time and gets the latest page', async () => {
    for (const text of ['a', 'b', 'c', 'd'])
      server.store('general', { id: 'bob', name: 'Bob' }, text, `seed-${text}-xxxx`);
    const { client, received } = await joined();
    expect(server.framesOf('join')).toEqual([{ type: 'join', room: 'general' }]);
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['b', 'c', 'd']);
    expect(received.map((m) => m.text)).toEqual(['b', 'c', 'd']);
    expect(client.getRoom('general')?.lastId).toBe(server.history('general')[3]?.id);
    expect(client.getRoom('general')?.joined).toBe(true);
  });

  it('resolves join for a room joined before the connection opened, once joined', async () => {
    const { client } = makeClient(server);
    const join = client.join('general');
    expect(client.rooms).toEqual(['general']);
    client.connect();
    await expect(join).resolves.toEqual({ room: 'general', resumed: false, resync: false });
  });

  it('drops a room the server refuses and rejects its join', async () => {
    server.forbiddenRooms.add('secret');
    const { client } = makeClient(server);
    client.connect();
    const error = nextEvent(client, 'error');
    await expect(client.join('secret')).rejects.toMatchObject({ code: 'forbidden_room', ref: 'secret' });
    expect((await error).code).toBe('forbidden_room');
    expect(client.rooms).toEqual([]);
    expect(client.getRoom('secret')).toBeUndefined();
  });

  it('keeps only the last `history` messages per room', async () => {
    const { client, received } = await joined('general', { history: 2 });
    for (const text of ['1', '2', '3', '4']) server.publish('general', text);
    await nextEvent(client, 'message', (m) => m.text === '4');
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['3', '4']);
    expect(received).toHaveLength(4);
  });

  it('keeps no messages with history 0 but still emits them and tracks lastId', async () => {
    const { client, received } = await joined('general', { history: 0 });
    server.publish('general', 'x');
    const last = server.publish('general', 'y');
    await nextEvent(client, 'message', (m) => m.text === 'y');
    expect(client.getRoom('general')?.messages).toEqual([]);
    expect(received.map((m) => m.text)).toEqual(['x', 'y']);
    expect(client.getRoom('general')?.lastId).toBe(last.id);
  });

  it('returns the same snapshot object until the room changes', async () => {
    const { client } = await joined();
    const a = client.getRoom('general');
    expect(client.getRoom('general')).toBe(a);
    server.publish('general', 'hello');
    await nextEvent(client, 'room');
    const b = client.getRoom('general');
    expect(b).not.toBe(a);
    expect(b?.messages.map((m) => m.text)).toEqual(['hello']);
    expect(a?.messages).toEqual([]);
  });

  it('leave() sends leave, forgets the room and does not resume it', async () => {
    const { client } = await joined();
    await client.join('random');
    client.leave('random');
    await server.frame('leave');
    expect(client.rooms).toEqual(['general']);
    const conn = await server.connection(1);
    conn.terminate();
    const second = await server.connection(2);
    await server.frame('join', (_f, c) => c === second);
    await inState(client, 'open');
    expect(second.frames.filter((f) => f.type === 'join')).toEqual([{ type: 'join', room: 'general' }]);
  });
});

describe('resume', () => {
  it('re-joins every room after a reconnect with since = the last id seen, and gets the gap', async () => {
    const { client, received } = await joined();
    await client.join('random');
    server.publish('general', 'one');
    const two = server.publish('general', 'two');
    const r = server.publish('random', 'elsewhere');
    await nextEvent(client, 'message', (m) => m.text === 'elsewhere');
    const conn = await server.connection(1);
    conn.terminate();
    // Published while the client is away: must arrive through the resume.
    server.publish('general', 'three');
    const second = await server.connection(2);
    const resumeGeneral = await server.frame('join', (f, c) => c === second && f.room === 'general');
    const resumeRandom = await server.frame('join', (f, c) => c === second && f.room === 'random');
    expect(resumeGeneral.frame).toEqual({ type: 'join', room: 'general', since: two.id });
    expect(resumeRandom.frame).toEqual({ type: 'join', room: 'random', since: r.id });
    await nextEvent(client, 'message', (m) => m.text === 'three');
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['one', 'two', 'three']);
    expect(received.map((m) => m.text)).toEqual(['one', 'two', 'elsewhere', 'three']);
  });

  it('drops duplicate messages by id (repeated live frames and overlapping replays)', async () => {
    const { client, received } = await joined();
    const conn = await server.connection(1);
    const m = server.publish('general', 'once');
    await nextEvent(client, 'message');
    conn.send({ type: 'msg', ...m });
    conn.send({ type: 'msg', ...m });
    // A replay that overlaps what the client already has.
    conn.send({ type: 'joined', room: 'general', messages: [m], presence: [], resumed: true });
    const later = server.publish('general', 'later');
    await nextEvent(client, 'message', (x) => x.id === later.id);
    expect(received.map((x) => x.text)).toEqual(['once', 'later']);
    expect(client.getRoom('general')?.messages.map((x) => x.text)).toEqual(['once', 'later']);
  });

  it('re-joins with since when a live message does not chain on the last id (a hole), and fills it', async () => {
    const { client, received } = await joined();
    const gaps: { prev: string; lastId: string }[] = [];
    client.on('gap', (g) => gaps.push(g));
    const a = server.publish('general', 'a');
    await nextEvent(client, 'message', (m) => m.id === a.id);
    const b = server.store('general', { id: 'bob', name: 'Bob' }, 'b, never fanned out', 'hole-b-xxxxx');
    const c = server.publish('general', 'c');
    await nextEvent(client, 'message', (m) => m.id === c.id);
    expect(gaps).toEqual([{ room: 'general', id: c.id, prev: b.id, lastId: a.id }]);
    expect(server.framesOf('join').at(-1)).toEqual({ type: 'join', room: 'general', since: a.id });
    expect(received.map((m) => m.text)).toEqual(['a', 'b, never fanned out', 'c']);
    expect(client.getRoom('general')?.messages.map((m) => m.id)).toEqual([a.id, b.id, c.id]);
  });

  it('keeps messages in id order even if one arrives late', async () => {
    const { client } = await joined();
    const conn = await server.connection(1);
    const a = server.store('general', { id: 'bob', name: 'Bob' }, 'a', 'late-a-xxxxx');
    const b = server.store('general', { id: 'bob', name: 'Bob' }, 'b', 'late-b-xxxxx');
    conn.send({ type: 'msg', ...b });
    conn.send({ type: 'msg', ...a });
    await nextEvent(client, 'message', (m) => m.id === a.id);
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['a', 'b']);
    expect(client.getRoom('general')?.lastId).toBe(b.id);
  });

  it('replaces the room on resync', async () => {
    const { client } = await joined();
    server.publish('general', 'old');
    await nextEvent(client, 'message');
    const conn = await server.connection(1);
    server.resyncNext = true;
    conn.terminate();
    server.publish('general', 'new-1');
    server.publish('general', 'new-2');
    const resync = await nextEvent(client, 'resync');
    expect(resync.reason).toBe('trimmed');
    // The page holds the latest 3 of: old, new-1, new-2 → all three, in a fresh list.
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['old', 'new-1', 'new-2']);
    server.resyncNext = true;
    (await server.connection(2)).terminate();
    for (const t of ['x', 'y', 'z']) server.publish('general', t);
    await nextEvent(client, 'resync');
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['x', 'y', 'z']);
  });
});

describe('presence', () => {
  it('shows unique users from the full list and applies deltas', async () => {
    const a = await joined();
    const bob1 = makeClient(server, { getToken: () => 'bob.tab1' });
    const bob2 = makeClient(server, { getToken: () => 'bob.tab2' });
    bob1.client.connect();
    bob2.client.connect();
    await bob1.client.join('general');
    await bob2.client.join('general');
    await expect.poll(() => a.client.getRoom('general')?.presence.length).toBe(3);
    expect(a.client.getRoom('general')?.users.map((u) => u.id)).toEqual(['alice', 'bob']);
    bob1.client.close();
    await expect.poll(() => a.client.getRoom('general')?.presence.length).toBe(2);
    expect(a.client.getRoom('general')?.users.map((u) => u.id)).toEqual(['alice', 'bob']);
    const gone = nextEvent(a.client, 'presence', (p) => p.users.length === 1);
    bob2.client.close();
    expect((await gone).users).toEqual([{ id: 'alice', name: 'user alice' }]);
  });

  it('ChatClientError carries the code', () => {
    const e = new ChatClientError('left', 'bye', 'general');
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ code: 'left', ref: 'general', name: 'ChatClientError' });
  });
});
