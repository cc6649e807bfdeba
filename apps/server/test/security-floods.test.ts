import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, spawnServer, TestClient } from './harness.js';
import { HONEST_RTT_BOUND_MS, HonestProcess, MiB, within } from './security-helpers.js';

/**
 * One socket flooding any kind of frame: every inbound frame costs the socket's budget, so the
 * flood is closed after a documented number of frames (RATE_LIMIT_BURST + RATE_LIMIT_CLOSE_AFTER
 * for frames the protocol allows, PROTOCOL_ERROR_CLOSE_AFTER for frames it refuses) and an
 * honest user on the same pod keeps chatting with fast round trips throughout.
 */
const LIMITS = {
  RATE_LIMIT_PER_S: '10',
  RATE_LIMIT_BURST: '20',
  RATE_LIMIT_CLOSE_AFTER: '50',
  PROTOCOL_ERROR_CLOSE_AFTER: '10',
};
/** Frames sent per batch, and the most one attacker sends before the test gives up on a close. */
const BATCH = 200;
const MAX_FRAMES = 30_000;
/** How long each attack runs (the attacker reconnects after every close). */
const ATTACK_MS = 1200;

describe('frame floods on one socket', () => {
  let srv: ServerProcess;
  let honest: HonestProcess;
  beforeAll(async () => {
    srv = await spawnServer({ ...LIMITS, LOG_LEVEL: 'warn' });
    honest = await HonestProcess.start(srv.wsUrl, await srv.token('honest'));
  });
  afterAll(async () => {
    await honest.close();
    expect(await srv.stop()).toBe(0);
  });

  it.each([
    ['app-level pong', '{"type":"pong","t":1}', 4429],
    ['valid ping', '{"type":"ping","t":1}', 4429],
    ['invalid JSON', '{"type":', 1008],
    ['unknown type', '{"type":"shutdown"}', 1008],
    ['binary', 'binary', 1008],
  ] as const)(
    'closes every %s flood within the budget; the honest round trip stays fast',
    async (name, text, code) => {
      const binary = text === 'binary';
      const payload = binary ? Buffer.from([1, 2, 3, 4]) : text;
      const rssBefore = await srv.rss();
      const probe = honest.probe();
      // The attacker floods, and reconnects each time it is closed, for the whole attack.
      const codes: number[] = [];
      let sent = 0;
      const end = performance.now() + ATTACK_MS;
      while (performance.now() < end) {
        const attacker = await TestClient.connect(srv.wsUrl, await srv.token('mallory'));
        let socketSent = 0;
        while (attacker.ws.readyState === attacker.ws.OPEN && socketSent < MAX_FRAMES) {
          for (let i = 0; i < BATCH; i++) attacker.ws.send(payload, { binary });
          socketSent += BATCH;
          await new Promise((r) => setImmediate(r));
        }
        sent += socketSent;
        const closed = await within(attacker.closed, 5000, 'attacker closed');
        codes.push(closed.code);
        // The documented budget: replies stop at the close bound.
        const errors = attacker.frames.filter((f) => f.type === 'error').length;
        const pongs = attacker.frames.filter((f) => f.type === 'pong').length;
        if (code === 1008) expect(errors).toBeLessThanOrEqual(Number(LIMITS.PROTOCOL_ERROR_CLOSE_AFTER));
        else expect(errors + pongs).toBeLessThanOrEqual(Number(LIMITS.RATE_LIMIT_BURST) + 60);
      }
      const rtt = await probe.stop();
      const rssAfter = await srv.rss();
      expect(new Set(codes)).toEqual(new Set([code]));
      expect(rtt.samples).toBeGreaterThanOrEqual(5);
      expect(rtt.p90).toBeLessThan(HONEST_RTT_BOUND_MS);
      await honest.roundTrip(); // still connected and served
      console.log(
        `flood ${name}: ${codes.length} sockets closed ${code}, ${sent} frames sent; ${rtt}; rss ${(rssBefore / MiB).toFixed(0)} -> ${(rssAfter / MiB).toFixed(0)} MiB`,
      );
    },
  );
});
