import type { ServerFrame } from '@chat/protocol';
import { TestRedis } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../src/broker/memory.js';
import type { BrokerListener, PresenceDelta } from '../src/broker/types.js';
import { type RunningApp, randomId, startApp, TestClient } from './harness.js';

/**
 * Paged replay: a resume is read a page at a time and written as the socket takes it, one
 * join at a time per socket, within the pod's bound on history reads. Clients see the same
 * contract as before: `joined` with the first messages, the rest as `msg` frames chained by
 * `prev`, then live messages, each once, in order.
 */
const FAST = {
  RATE_LIMIT_PER_S: '100000',
  RATE_LIMIT_BURST: '100000',
  USER_RATE_LIMIT_PER_S: '100000',
  USER_RATE_LIMIT_BURST: '100000',
  HISTORY_MAXLEN: '5000',
};

async function seed(c: TestClient, room: string, n: number, text = 'x'.repeat(200)): Promise<string[]> {
  await c.join(room);
  const ids: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, (_, k) =>
      c.say(room, `${i + k} ${text}`, randomId()),
    );
    ids.push(...(await Promise.all(batch)).map((a) => a.id));
  }
  return ids;
}

/** The ids of `room` a client was sent, in arrival order, checking each msg's `prev` chain. */
function replayed(frames: ServerFrame[], room: string, since: string): string[] {
  const ids: string[] = [];
  for (const f of frames) {
    if (f.type === 'joined' && f.room === room) ids.push(...f.messages.map((m) => m.id));
    if (f.type === 'msg' && f.room === room) {
      expect(f.prev, `prev of ${f.id}`).toBe(ids.at(-1) ?? since);
      ids.push(f.id);
    }
  }
  return ids;
}

describe.each(['memory', 'redis'] as const)('paged replay (%s broker)', (kind) => {
  const redis = new TestRedis();
  let srv: RunningApp;
  beforeAll(async () => {
    if (kind === 'redis') await redis.start();
    srv = await startApp({
      ...FAST,
      ...(kind === 'redis' ? { REDIS_URL: redis.url } : {}),
      HISTORY_REPLAY_PAGE: '7',
      // Writes of 1 KB, and ~60 messages of ~300 bytes read per second: a replay takes a while.
      SEND_BUFFER_LIMIT_BYTES: '4096',
      HISTORY_READ_BYTES_PER_S: '20000',
    });
  });
  afterAll(async () => {
    await srv.close();
    if (kind === 'redis') await redis.destroy();
  });

  it('replays a page at a time, then live messages sent meanwhile: each once, in order', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const history = await seed(writer, 'paged', 60);
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    const joined = await reader.join('paged', history[0]);
    expect(joined.type).toBe('joined');
    if (joined.type !== 'joined') return;
    expect(joined.resumed).toBe(true);
    // The first part only: the rest is still being read when these are sent.
    expect(joined.messages.length).toBeLessThan(10);
    const live: string[] = [];
    for (let i = 0; i < 10; i++) live.push((await writer.say('paged', `live ${i}`)).id);
    await reader.next('msg', (m) => m.id === live.at(-1), 10_000);
    expect(replayed(reader.frames, 'paged', history[0] as string)).toEqual([...history.slice(1), ...live]);
    // And it is live now: the next message comes straight through.
    const after = await writer.say('paged', 'after');
    await reader.next('msg', (m) => m.id === after.id);
    expect(reader.messages('paged').filter((m) => m.id === after.id)).toHaveLength(1);
    await Promise.all([writer.close(), reader.close()]);
  });

  it("serves one socket's joins one after another, each complete before the next", async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const a = await seed(writer, 'first', 30);
    const b = await seed(writer, 'second', 30);
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    reader.send({ type: 'join', room: 'first', since: a[0] });
    reader.send({ type: 'join', room: 'second', since: b[0] });
    await reader.next('msg', (m) => m.id === b.at(-1), 10_000);
    const rooms = reader.frames.flatMap((f) => (f.type === 'joined' || f.type === 'msg' ? [f.room] : []));
    expect(rooms).toEqual([...rooms.filter((r) => r === 'first'), ...rooms.filter((r) => r === 'second')]);
    expect(replayed(reader.frames, 'first', a[0] as string)).toEqual(a.slice(1));
    expect(replayed(reader.frames, 'second', b[0] as string)).toEqual(b.slice(1));
    await Promise.all([writer.close(), reader.close()]);
  });

  it('a leave during a replay stops it: nothing more of the room is sent', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const history = await seed(writer, 'left-mid', 60);
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    await reader.join('left-mid', history[0]);
    reader.send({ type: 'leave', room: 'left-mid' });
    await reader.next('left');
    const count = reader.frames.filter((f) => f.type === 'msg').length;
    // Another full page's time: a replay still running would have sent more by then.
    const probe = await writer.say('left-mid', 'after the leave');
    await writer.next('msg', (m) => m.id === probe.id);
    await reader.join('other');
    expect(reader.frames.filter((f) => f.type === 'msg')).toHaveLength(count);
    expect(count).toBeLessThan(59);
    await Promise.all([writer.close(), reader.close()]);
  });
});

describe('bounds on history reads', () => {
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({
      ...FAST,
      HISTORY_READS_PER_POD: '1',
      HISTORY_READ_QUEUE: '1',
      HISTORY_REPLAY_PAGE: '5',
      // Writes of 1 KB: `joined` comes after the first page, while the replay holds its slot.
      SEND_BUFFER_LIMIT_BYTES: '4096',
      // Eight ~250-byte messages per second: the first replay holds the only slot a while.
      HISTORY_READ_BYTES_PER_S: '2000',
    });
  });
  afterAll(async () => {
    await srv.close();
  });

  it('queues joins past HISTORY_READS_PER_POD, refuses them `busy` past HISTORY_READ_QUEUE', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const history = await seed(writer, 'slow', 8);
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((n) => TestClient.connect(srv.wsUrl, srv.token(n))),
    );
    if (!a || !b || !c) throw new Error('no clients');
    a.send({ type: 'join', room: 'slow', since: history[0] });
    await a.next('joined');
    b.send({ type: 'join', room: 'slow', since: history[0] });
    c.send({ type: 'join', room: 'slow', since: history[0] });
    const refused = await c.next('error');
    expect(refused).toMatchObject({ code: 'busy', ref: 'slow', retryAfterMs: 1000 });
    // Refused: not a member.
    c.send({ type: 'send', room: 'slow', clientMsgId: randomId(), text: 'x' });
    expect(await c.next('error', (e) => e.code !== 'busy')).toMatchObject({ code: 'not_joined' });
    // The queued one is served after the first, completely.
    await b.next('msg', (m) => m.id === history.at(-1), 20_000);
    expect(replayed(a.frames, 'slow', history[0] as string)).toEqual(history.slice(1));
    expect(replayed(b.frames, 'slow', history[0] as string)).toEqual(history.slice(1));
    expect(b.frames.some((f) => f.type === 'error')).toBe(false);
    await Promise.all([writer.close(), a.close(), b.close(), c.close()]);
  });
});

describe('a socket that does not read its replay', () => {
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({
      ...FAST,
      HEARTBEAT_MS: '1500',
      MAX_TEXT_CHARS: '4000',
      HISTORY_READ_BYTES_PER_S: '0',
      // One slot: a socket that does not read must not keep it.
      HISTORY_READS_PER_POD: '1',
    });
  });
  afterAll(async () => {
    await srv.close();
  });

  it('holds no read slot while it stalls, and is closed 1013 after two heartbeats', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const history = await seed(writer, 'big', 1500, 'y'.repeat(3900));
    const stuck = await TestClient.connect(srv.wsUrl, srv.token('stuck'));
    stuck.ws.pause();
    // It stops reading but keeps talking, so only the replay stall can close it.
    const keepAlive = setInterval(() => stuck.ws.send('{"type":"ping"}'), 100);
    stuck.send({ type: 'join', room: 'big', since: history[0] });
    const closes = async () =>
      (await srv.app.metrics.closes.get()).values.find((v) => v.labels.code === '1013')?.value ?? 0;
    try {
      // Served while the stuck socket still waits (3 s before it is closed).
      const other = await TestClient.connect(srv.wsUrl, srv.token('other'));
      const resumed = await other.join('big', history.at(-3));
      expect(resumed.messages.map((m) => m.id)).toEqual(history.slice(-2));
      expect(await closes()).toBe(0);
      await expect.poll(closes, { timeout: 10_000 }).toBe(1);
      await other.close();
    } finally {
      clearInterval(keepAlive);
      stuck.ws.terminate();
    }
    await writer.close();
  }, 30_000);
});

/** Drops the next `dropNext` live copies, as Redis pub/sub does on a reconnect or overflow. */
class DroppingBroker extends MemoryBroker {
  dropNext = 0;
  override setListener(listener: BrokerListener): void {
    super.setListener({
      message: (room: string, id: string, prev: string, body: string) => {
        if (this.dropNext > 0) this.dropNext--;
        else listener.message(room, id, prev, body);
      },
      presence: (room: string, delta: PresenceDelta) => listener.presence(room, delta),
      resubscribed: () => listener.resubscribed(),
    });
  }
}

describe('a heal longer than a page', () => {
  const broker = new DroppingBroker({ nodeId: 'drop', maxLen: 1000, idempotencyTtlS: 60 });
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({ ...FAST, HISTORY_REPLAY_PAGE: '3', LIVE_CHECK_MS: '0' }, { broker });
  });
  afterAll(async () => {
    await srv.close();
    await broker.close();
  });

  it('reads the gap a page at a time: every live member gets each missed message once, in order', async () => {
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    await writer.join('gappy');
    await reader.join('gappy');
    broker.dropNext = 10;
    const missed = await seed(writer, 'gappy', 10);
    // The next live message does not chain on what the pod delivered: it reads the gap first.
    const next = await writer.say('gappy', 'reveals the gap');
    await reader.next('msg', (m) => m.id === next.id);
    const ids = reader.messages('gappy').map((m) => m.id);
    expect(ids).toEqual([...missed, next.id]);
    expect(reader.messages('gappy').map((m) => m.prev)).toEqual([expect.any(String), ...ids.slice(0, -1)]);
    const healed = (await srv.app.metrics.liveHealed.get()).values.reduce((n, v) => n + v.value, 0);
    // Read from history: the ten missed and the one that revealed the gap (4 pages of 3).
    expect(healed).toBe(11);
    await Promise.all([writer.close(), reader.close()]);
  });
});
