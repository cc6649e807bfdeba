import { connect, type Socket } from 'node:net';
import { closeAll } from '@chat/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type ServerProcess, spawnServer, TestClient } from './harness.js';
import { HONEST_RTT_BOUND_MS, Honest, HonestProcess, MiB, within } from './security-helpers.js';

/**
 * Attacks on connections rather than frames: many sockets for one user or one address,
 * connections that never finish their handshake, and messages split into tiny fragments. Each
 * test asserts the defence and that an honest user on the same pod keeps fast round trips.
 */
/** How long the connection-cap attacks run. */
const ATTACK_MS = 1000;

describe('connection caps', () => {
  let srv: ServerProcess;
  let honest: HonestProcess;
  beforeAll(async () => {
    srv = await spawnServer({
      LOG_LEVEL: 'warn',
      MAX_CONNECTIONS_PER_USER: '5',
      MAX_CONNECTIONS_PER_IP: '12',
    });
    // From another loopback address: the per-IP cap on 127.0.0.1 is not the honest user's.
    honest = await HonestProcess.start(srv.wsUrl, await srv.token('honest'), { localAddress: '127.0.0.2' });
  });
  afterAll(async () => {
    await honest.close();
    expect(await srv.stop()).toBe(0);
  });
  /** Sockets a test opened: closed after it, pass or fail, so the next test starts clean. */
  const open: TestClient[] = [];
  afterEach(async () => {
    await closeAll(open.splice(0));
  });

  it('refuses a sixth socket of one user with 429; other users are unaffected', async () => {
    const probe = honest.probe();
    const token = await srv.token('mallory');
    open.push(...(await Promise.all(Array.from({ length: 5 }, () => TestClient.connect(srv.wsUrl, token)))));
    const results: string[] = [];
    const end = performance.now() + ATTACK_MS;
    while (performance.now() < end) {
      const wave = Array.from({ length: 20 }, () => {
        const c = new TestClient(srv.wsUrl, token);
        return c.opened.then(
          () => 'opened',
          (err: Error) => err.message,
        );
      });
      results.push(...(await Promise.all(wave)));
    }
    const rtt = await probe.stop();
    expect(new Set(results)).toEqual(new Set(['HTTP 429']));
    open.push(await TestClient.connect(srv.wsUrl, await srv.token('someone-else')));
    expect(rtt.p90).toBeLessThan(HONEST_RTT_BOUND_MS);
    console.log(`per-user cap: ${results.length} extra sockets refused 429; ${rtt}`);
    await closeAll(open.splice(0));
    // Closed sockets free the user's slots.
    const again = async () => {
      const c = new TestClient(srv.wsUrl, token);
      const ok = await c.opened.then(
        () => true,
        () => false,
      );
      await c.close();
      return ok;
    };
    await expect.poll(again).toBe(true);
  });

  it('refuses sockets past the per-IP cap, whatever X-Forwarded-For claims', async () => {
    const probe = honest.probe();
    for (let i = 0; i < 12; i++) open.push(await TestClient.connect(srv.wsUrl, await srv.token(`bot${i}`)));
    const spoofed: string[] = [];
    const end = performance.now() + ATTACK_MS;
    for (let wave = 0; performance.now() < end; wave++) {
      const tokens = await Promise.all(Array.from({ length: 10 }, (_, i) => srv.token(`bot-x${wave}-${i}`)));
      const results = tokens.map((t, i) => {
        const c = new TestClient(srv.wsUrl, t, { 'x-forwarded-for': `10.0.${wave % 250}.${i + 1}` });
        return c.opened.then(
          () => 'opened',
          (err: Error) => err.message,
        );
      });
      spoofed.push(...(await Promise.all(results)));
    }
    const rtt = await probe.stop();
    expect(new Set(spoofed)).toEqual(new Set(['HTTP 429']));
    expect(rtt.p90).toBeLessThan(HONEST_RTT_BOUND_MS);
    // Another address still gets in.
    const elsewhere = await Honest.connect(srv.wsUrl, await srv.token('neighbour'), {
      localAddress: '127.0.0.3',
    });
    await elsewhere.close();
    console.log(`per-IP cap: ${spoofed.length} spoofed sockets refused 429; ${rtt}`);
  });
});

describe('connections that never finish the handshake', () => {
  let srv: ServerProcess;
  let honest: HonestProcess;
  const CAP = 40;
  const TIMEOUT_MS = 1500;
  beforeAll(async () => {
    srv = await spawnServer({
      LOG_LEVEL: 'warn',
      MAX_PENDING_CONNECTIONS: String(CAP),
      HANDSHAKE_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    honest = await HonestProcess.start(srv.wsUrl, await srv.token('honest'));
  });
  afterAll(async () => {
    await honest.close();
    expect(await srv.stop()).toBe(0);
  });

  it('keeps at most the cap of half-open connections, drops them after the timeout, and stays reachable', async () => {
    const { port } = new URL(srv.url);
    const probe = honest.probe();
    const N = 240;
    let closedByServer = 0;
    const sockets: Socket[] = [];
    const allClosed = Promise.all(
      Array.from({ length: N }, async (_, i) => {
        // In waves, as a client-side flood on a small box would arrive.
        if (i % 40 === 0) await new Promise((r) => setImmediate(r));
        const s = connect(Number(port), '127.0.0.1');
        sockets.push(s);
        s.on('error', () => {});
        // Headers that never end: the slowloris shape.
        s.once('connect', () => s.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n'));
        await new Promise<void>((resolve) =>
          s.once('close', () => {
            closedByServer++;
            resolve();
          }),
        );
      }),
    );
    // Past the cap the oldest are dropped at once: at most CAP remain waiting.
    await expect.poll(() => closedByServer, { timeout: 5000 }).toBeGreaterThanOrEqual(N - CAP);
    // A probe and a new honest socket get through while the rest still wait.
    const live = await fetch(`${srv.url}/livez`);
    expect(live.status).toBe(200);
    const late = await Honest.connect(srv.wsUrl, await srv.token('late'));
    await late.join('lobby');
    await late.roundTrip('lobby');
    await late.close();
    // The survivors are dropped by the handshake timeout.
    await within(allClosed, TIMEOUT_MS + 3000, 'every half-open connection closed');
    const rtt = await probe.stop();
    expect(rtt.p90).toBeLessThan(HONEST_RTT_BOUND_MS);
    await honest.roundTrip(); // still connected and served
    console.log(
      `half-open: ${N} connections, all closed by the server (cap ${CAP}, timeout ${TIMEOUT_MS} ms); ${rtt}`,
    );
    for (const s of sockets) s.destroy();
  });
});

describe('fragment flood', () => {
  let srv: ServerProcess;
  let honest: HonestProcess;
  beforeAll(async () => {
    srv = await spawnServer({ LOG_LEVEL: 'warn', WS_MAX_FRAGMENTS: '16' });
    honest = await HonestProcess.start(srv.wsUrl, await srv.token('honest'));
  });
  afterAll(async () => {
    await honest.close();
    expect(await srv.stop()).toBe(0);
  });

  it('closes a socket sending a message in too many fragments (1008) and keeps memory bounded', async () => {
    const SOCKETS = 60;
    const FRAGMENTS = 4000;
    const rssBefore = await srv.rss();
    const probe = honest.probe();
    const attackers: TestClient[] = [];
    for (let i = 0; i < SOCKETS; i++)
      attackers.push(await TestClient.connect(srv.wsUrl, await srv.token(`m${i}`)));
    let peak = rssBefore;
    for (let f = 0; f < FRAGMENTS; f += 200) {
      for (const a of attackers) {
        if (a.ws.readyState !== WebSocket.OPEN) continue;
        for (let j = 0; j < 200; j++) a.ws.send('a', { fin: false });
      }
      await new Promise((r) => setImmediate(r));
      if (f % 1000 === 0) peak = Math.max(peak, await srv.rss());
    }
    const closes = await within(Promise.all(attackers.map((a) => a.closed)), 5000, 'attackers closed');
    peak = Math.max(peak, await srv.rss());
    const rtt = await probe.stop();
    expect(new Set(closes.map((c) => c.code))).toEqual(new Set([1008]));
    // Bound: 60 sockets x 4,000 one-byte fragments would hold ~240k buffers without the cap.
    expect(peak - rssBefore).toBeLessThan(48 * MiB);
    expect(rtt.p90).toBeLessThan(HONEST_RTT_BOUND_MS);
    console.log(
      `fragments: ${SOCKETS} sockets x ${FRAGMENTS} fragments, all closed 1008; rss ${(rssBefore / MiB).toFixed(0)} -> peak ${(peak / MiB).toFixed(0)} MiB; ${rtt}`,
    );
  });
});
