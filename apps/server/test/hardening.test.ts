import type { Socket } from 'node:net';
import { TestRedis } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RunningApp,
  randomId,
  type ServerProcess,
  spawnServer,
  startApp,
  TestClient,
  until,
} from './harness.js';

const socketOf = (c: TestClient) => (c.ws as unknown as { _socket: Socket })._socket;

describe('slow consumer', () => {
  let srv: ServerProcess;
  const LIMIT = 256 * 1024;
  beforeAll(async () => {
    srv = await spawnServer({
      SEND_BUFFER_LIMIT_BYTES: String(LIMIT),
      RATE_LIMIT_PER_S: '1000000',
      RATE_LIMIT_BURST: '1000000',
      USER_RATE_LIMIT_PER_S: '1000000',
      USER_RATE_LIMIT_BURST: '1000000',
      LOG_LEVEL: 'warn',
    });
  });
  afterAll(async () => {
    expect(await srv.stop()).toBe(0);
  });

  it('closes a socket that stops reading with 1013 and keeps memory bounded; others are unaffected', async () => {
    const writer = await TestClient.connect(srv.wsUrl, await srv.token('writer'));
    const fast = await TestClient.connect(srv.wsUrl, await srv.token('fast'));
    const slow = await TestClient.connect(srv.wsUrl, await srv.token('slow'));
    for (const c of [writer, fast, slow]) await c.join('busy');
    socketOf(slow).pause(); // stops reading: the kernel buffers fill, then the server's queue
    const rssBefore = await srv.rss();
    const text = 'z'.repeat(1900);
    const acked: string[] = [];
    let slowClosed = false;
    void slow.closed.then(() => {
      slowClosed = true;
    });
    // Keep the room busy until the server gives up on the slow socket (bounded at 40 MiB sent).
    for (let i = 0; i < 20_000; i++) {
      const pending = [];
      for (let j = 0; j < 50; j++) pending.push(writer.say('busy', text));
      for (const a of await Promise.all(pending)) acked.push(a.id);
      if (i % 4 === 0 && (await srv.rss()) > rssBefore + 512 * 2 ** 20) break;
      if (fast.messages('busy').length > 0 && (await isServerDone(slow))) break;
    }
    const rssPeak = await srv.rss();
    socketOf(slow).resume();
    const closed = await slow.closed;
    expect(slowClosed).toBe(true);
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/slow consumer/);
    await expect.poll(() => fast.messages('busy').length, { timeout: 20_000 }).toBe(acked.length);
    // Bound: the slow socket's backlog is capped at LIMIT (+ one frame) instead of growing with traffic.
    expect(rssPeak - rssBefore).toBeLessThan(128 * 2 ** 20);
    console.log(
      `slow consumer: closed 1013 after ${acked.length} messages (${((acked.length * 2) / 1024).toFixed(1)} MiB sent); server rss ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssPeak / 2 ** 20).toFixed(0)} MiB`,
    );
    await Promise.all([writer.close(), fast.close()]);

    /** The server has sent its close frame when the slow socket's peer half is being closed. */
    async function isServerDone(c: TestClient): Promise<boolean> {
      const body = await srv.metrics();
      return /chat_server_closes_total\{code="1013"/.test(body) || c.ws.readyState !== c.ws.OPEN;
    }
  });
});

describe('connection flood', () => {
  const redis = new TestRedis();
  let srv: RunningApp;
  beforeAll(async () => {
    await redis.start();
    srv = await startApp({ REDIS_URL: redis.url, MAX_CONNECTIONS: '40' });
    await until(async () => (await srv.app.inject('/readyz')).statusCode === 200, 'server ready');
  });
  afterAll(async () => {
    await srv.close();
    await redis.destroy();
  });

  it('refuses upgrades past the per-pod cap with 503 and Retry-After', async () => {
    const clients = await Promise.all(
      Array.from({ length: 40 }, (_, i) => TestClient.connect(srv.wsUrl, srv.token(`u${i}`))),
    );
    const extra = new TestClient(srv.wsUrl, srv.token('one-too-many'));
    await expect(extra.opened).rejects.toThrow('HTTP 503');
    await Promise.all(clients.map((c) => c.close()));
    await expect.poll(() => srv.app.hub.conns.size).toBe(0);
    const again = await TestClient.connect(srv.wsUrl, srv.token('room-again'));
    await again.close();
  });

  it('costs Redis nothing for a flood of upgrades without a valid token', async () => {
    const admin = redis.client();
    const calls = async () => {
      const info = await admin.info('commandstats');
      let total = 0;
      for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
        // The pod's own heartbeat and our INFO calls run regardless of clients.
        if (
          ![
            'zadd',
            'expire',
            'multi',
            'exec',
            'zrangebyscore',
            'info',
            'ping',
            'client',
            'hello',
            'command',
          ].includes(m[1] as string)
        )
          total += Number(m[2]);
      }
      return total;
    };
    const before = await calls();
    const attempts = Array.from({ length: 300 }, (_, i) => {
      const c = new TestClient(srv.wsUrl, i % 2 ? undefined : 'forged.token.value');
      return c.opened.then(
        () => 'opened',
        (err: Error) => err.message,
      );
    });
    const results = await Promise.all(attempts);
    expect(new Set(results)).toEqual(new Set(['HTTP 401']));
    expect(await calls()).toBe(before);
    admin.disconnect();
  });
});

describe('per-user rate limit', () => {
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({
      USER_RATE_LIMIT_PER_S: '5',
      USER_RATE_LIMIT_BURST: '10',
      RATE_LIMIT_PER_S: '100',
      RATE_LIMIT_BURST: '100',
    });
  });
  afterAll(async () => srv.close());

  it("shares one message budget across a user's sockets", async () => {
    const token = srv.token('spammer');
    const tabs = await Promise.all([1, 2, 3].map(() => TestClient.connect(srv.wsUrl, token)));
    for (const t of tabs) await t.join('spam');
    const ids = tabs.flatMap((t) => Array.from({ length: 6 }, () => ({ t, id: randomId() })));
    for (const { t, id } of ids) t.send({ type: 'send', room: 'spam', clientMsgId: id, text: 'buy now' });
    const outcomes = await Promise.all(
      ids.map(({ t, id }) =>
        Promise.race([
          t.next('ack', (a) => a.clientMsgId === id).then(() => 'ack'),
          t.next('error', (e) => e.ref === id).then((e) => e.code),
        ]),
      ),
    );
    expect(outcomes.filter((o) => o === 'ack').length).toBeLessThanOrEqual(11);
    expect(outcomes.filter((o) => o === 'rate_limited').length).toBeGreaterThanOrEqual(7);
    // Another user is not affected by the spammer's budget.
    const other = await TestClient.connect(srv.wsUrl, srv.token('other'));
    await other.join('spam');
    await other.say('spam', 'hello');
    await Promise.all([...tabs, other].map((t) => t.close()));
  });
});

describe('slow or paused Redis', () => {
  const redis = new TestRedis();
  let srv: RunningApp;
  beforeAll(async () => {
    await redis.start();
    srv = await startApp({ REDIS_URL: redis.url });
    await until(async () => (await srv.app.inject('/readyz')).statusCode === 200, 'server ready');
  });
  afterAll(async () => {
    redis.resume();
    await srv.close();
    await redis.destroy();
  });

  it('reports a frozen Redis (staying ready), refuses sends clearly, recovers, and shows a resend once', async () => {
    const a = await TestClient.connect(srv.wsUrl, srv.token('ada'));
    await a.join('freeze');
    redis.pause();
    await expect
      .poll(async () => (await srv.app.inject('/readyz')).json().broker, { timeout: 10_000 })
      .toBe('unavailable');
    expect((await srv.app.inject('/readyz')).statusCode).toBe(200);
    a.send({ type: 'send', room: 'freeze', clientMsgId: 'frozen-message-1', text: 'while frozen' });
    const err = await a.next('error', (e) => e.ref === 'frozen-message-1', 10_000);
    // The command was written and not answered: it may still run, so the outcome is unknown.
    expect(err.code).toBe('outcome_unknown');
    expect(err.retryAfterMs).toBeGreaterThan(0);
    redis.resume();
    await expect
      .poll(async () => (await srv.app.inject('/readyz')).json().broker, { timeout: 10_000 })
      .toBe('ok');
    // The frozen command may have run once Redis woke up: the resend must still show once.
    await a.say('freeze', 'while frozen', 'frozen-message-1');
    const b = await TestClient.connect(srv.wsUrl, srv.token('bob'));
    const history = await b.join('freeze');
    expect(history.messages.filter((m) => m.clientMsgId === 'frozen-message-1')).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('HTTP hardening', () => {
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({}, { web: true });
  });
  afterAll(async () => srv.close());

  it('sends security headers on every response', async () => {
    for (const url of ['/', '/livez', '/readyz', '/nope']) {
      const res = await srv.app.inject(url);
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(String(res.headers['content-security-policy']), url).toMatch(/default-src 'self'/);
      expect(res.headers['x-frame-options'], url).toBeDefined();
    }
  });

  it('validates the token request and escapes nothing into the token', async () => {
    const bad = await srv.app.inject({ method: 'POST', url: '/api/token', payload: { name: '' } });
    expect(bad.statusCode).toBe(400);
    const extra = await srv.app.inject({
      method: 'POST',
      url: '/api/token',
      payload: { name: 'x', admin: true },
    });
    expect(extra.statusCode).toBe(400);
    const ok = await srv.app.inject({ method: 'POST', url: '/api/token', payload: { name: ' <b>Ada</b> ' } });
    expect(ok.json()).toMatchObject({ user: { name: '<b>Ada</b>' } });
    const bell = await srv.app.inject({ method: 'POST', url: '/api/token', payload: { name: 'Ada\u0007' } });
    expect(bell.statusCode).toBe(400);
  });
});
