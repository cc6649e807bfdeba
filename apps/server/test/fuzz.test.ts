import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomId, type ServerProcess, spawnServer, TestClient } from './harness.js';

/**
 * Hostile input at volume: >10k malformed frames from a seeded generator against a real
 * server process. Every frame must get its documented answer (in order), the process must
 * stay up with bounded memory, and honest clients on the same server keep chatting.
 */
const SEED = 20261125;
const KNOWN = new Set(['join', 'leave', 'send', 'ping', 'pong']);
const MAX_PAYLOAD = 16384;

type Case = { raw: string | Buffer; binary?: boolean; expect: string };

function classify(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'bad_frame';
  const type = (value as Record<string, unknown>).type;
  if (typeof type !== 'string') return 'bad_frame';
  return Object.hasOwn(Object.fromEntries([...KNOWN].map((k) => [k, 1])), type)
    ? 'bad_frame'
    : 'unknown_type';
}

const sample = <T>(arb: fc.Arbitrary<T>, n: number, offset: number) =>
  fc.sample(arb, { numRuns: n, seed: SEED + offset });

const validFrames = [
  '{"type":"join","room":"fuzz"}',
  '{"type":"leave","room":"fuzz"}',
  '{"type":"send","room":"fuzz","clientMsgId":"abcdefgh123","text":"hello there"}',
  '{"type":"ping","t":1}',
];

function cases(): Case[] {
  const out: Case[] = [];
  // Arbitrary JSON that is not a valid frame (objects with a known type are left out: most
  // would be valid or bad_frame by schema, covered below).
  const json = fc.jsonValue().filter((v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return true;
    const t = (v as Record<string, unknown>).type;
    return !(typeof t === 'string' && KNOWN.has(t));
  });
  for (const v of sample(json, 3000, 1)) {
    const raw = JSON.stringify(v);
    if (Buffer.byteLength(raw) < MAX_PAYLOAD) out.push({ raw, expect: classify(v) });
  }
  // Truncated frames: a strict prefix of a JSON object is never JSON.
  for (const [i, cut] of sample(
    fc.tuple(fc.nat(validFrames.length - 1), fc.double({ min: 0, max: 1, noNaN: true })),
    1500,
    2,
  )) {
    const f = validFrames[i] as string;
    out.push({ raw: f.slice(0, Math.max(1, Math.floor(cut * (f.length - 1)))), expect: 'bad_json' });
  }
  // Deep nesting, balanced (valid JSON, wrong shape) and unbalanced (not JSON).
  for (const d of sample(fc.integer({ min: 1, max: 7000 }), 500, 3)) {
    out.push({ raw: `{"type":"join","room":${'['.repeat(d)}${']'.repeat(d)}}`, expect: 'bad_frame' });
    out.push({ raw: '{"a":'.repeat(Math.min(d, 3000)), expect: 'bad_json' });
  }
  // Huge strings: over the protocol's hard cap is a schema error; between the server's limit
  // (2000) and the cap is text_too_long.
  for (const n of sample(fc.integer({ min: 4001, max: 16000 }), 500, 4)) {
    out.push({
      raw: JSON.stringify({ type: 'send', room: 'fuzz', clientMsgId: 'abcdefgh', text: 'x'.repeat(n) }),
      expect: 'bad_frame',
    });
  }
  for (const n of sample(fc.integer({ min: 2001, max: 4000 }), 500, 5)) {
    out.push({
      raw: JSON.stringify({ type: 'send', room: 'fuzz', clientMsgId: 'abcdefgh', text: 'y'.repeat(n) }),
      expect: 'text_too_long',
    });
  }
  // Wrong types in every field of known frames.
  const notString = fc.oneof(
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.nat(), { maxLength: 3 }),
    fc.object({ maxDepth: 1 }),
  );
  for (const [bad, which] of sample(fc.tuple(notString, fc.nat(4)), 1500, 6)) {
    const frames = [
      { type: 'join', room: bad },
      { type: 'leave', room: bad },
      { type: 'send', room: 'fuzz', clientMsgId: bad, text: 'x' },
      { type: 'send', room: 'fuzz', clientMsgId: 'abcdefgh', text: bad },
      { type: 'join', room: 'fuzz', since: bad },
    ];
    out.push({ raw: JSON.stringify(frames[which]), expect: 'bad_frame' });
  }
  // Unknown fields on otherwise valid frames.
  for (const [key, i] of sample(
    fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.nat(validFrames.length - 1)),
    1000,
    7,
  )) {
    const frame = JSON.parse(validFrames[i] as string) as Record<string, unknown>;
    if (key in frame || key === '__proto__') continue;
    out.push({ raw: JSON.stringify({ ...frame, [key]: 1 }), expect: 'bad_frame' });
  }
  // Binary frames of random bytes.
  for (const bytes of sample(fc.uint8Array({ minLength: 0, maxLength: 2048 }), 1000, 8)) {
    out.push({ raw: Buffer.from(bytes), binary: true, expect: 'binary_unsupported' });
  }
  // Random text.
  for (const s of sample(fc.string({ unit: 'binary', maxLength: 200 }), 1000, 9)) {
    let expected: string;
    try {
      expected = classify(JSON.parse(s));
    } catch {
      expected = 'bad_json';
    }
    out.push({ raw: s, expect: expected });
  }
  return out;
}

describe('fuzz: malformed frames against a running server', () => {
  let srv: ServerProcess;
  beforeAll(async () => {
    srv = await spawnServer({
      RATE_LIMIT_PER_S: '1000000',
      RATE_LIMIT_BURST: '1000000',
      USER_RATE_LIMIT_PER_S: '1000000',
      USER_RATE_LIMIT_BURST: '1000000',
      MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
      MAX_TEXT_CHARS: '2000',
      // This test checks the answer to each malformed frame; the close after repeated ones is
      // tested in security.test.ts.
      PROTOCOL_ERROR_CLOSE_AFTER: '1000000',
    });
  });
  afterAll(async () => {
    expect(await srv.stop()).toBe(0);
  });

  it('answers every one of >10k malformed frames as documented while honest clients chat', async () => {
    const all = cases();
    expect(all.length).toBeGreaterThanOrEqual(10_000);

    const alice = await TestClient.connect(srv.wsUrl, await srv.token('alice'));
    const bob = await TestClient.connect(srv.wsUrl, await srv.token('bob'));
    await alice.join('honest');
    await bob.join('honest');
    const acked: string[] = [];
    let chatting = true;
    const chat = (async () => {
      for (let i = 0; chatting; i++) acked.push((await alice.say('honest', `honest ${i}`)).id);
    })();

    const rssBefore = await srv.rss();
    const attacker = await TestClient.connect(srv.wsUrl, await srv.token('mallory'));
    await attacker.join('fuzz');
    const errors = () => attacker.frames.filter((f) => f.type === 'error');
    for (let i = 0; i < all.length; i += 500) {
      const batch = all.slice(i, i + 500);
      for (const c of batch) attacker.ws.send(c.raw, { binary: c.binary ?? false });
      await expect.poll(() => errors().length, { timeout: 20_000 }).toBe(Math.min(i + 500, all.length));
    }
    const got = errors().map((e) => (e.type === 'error' ? e.code : ''));
    const mismatches = all
      .map((c, i) => ({ i, expected: c.expect, got: got[i], raw: String(c.raw).slice(0, 60) }))
      .filter((m) => m.expected !== m.got);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(attacker.ws.readyState).toBe(attacker.ws.OPEN);

    // Frames that must close the socket, each on its own connection.
    for (let i = 0; i < 25; i++) {
      const big = await TestClient.connect(srv.wsUrl, await srv.token('mallory'));
      big.ws.send('x'.repeat(MAX_PAYLOAD + 1 + i * 97));
      expect((await big.closed).code).toBe(1009);
      const utf = await TestClient.connect(srv.wsUrl, await srv.token('mallory'));
      utf.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, i]), { binary: false });
      expect((await utf.closed).code).toBe(1007);
    }

    chatting = false;
    await chat;
    const rssAfter = await srv.rss();
    await expect.poll(() => bob.messages('honest').length).toBe(acked.length);
    expect(bob.messages('honest').map((m) => m.id)).toEqual(acked);
    expect(acked.length).toBeGreaterThan(20);
    expect(srv.alive()).toBe(true);
    // Bounded memory: 10k bad frames leave no lasting growth beyond allocator noise.
    expect(rssAfter - rssBefore).toBeLessThan(96 * 1024 * 1024);
    console.log(
      `fuzz: ${all.length} malformed frames + 50 closing frames answered; honest messages ${acked.length}; rss ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB`,
    );
    await Promise.all([alice.close(), bob.close(), attacker.close()]);
  });

  it('keeps a socket usable after errors', async () => {
    const c = await TestClient.connect(srv.wsUrl, await srv.token('carol'));
    c.send({ type: 'nope' });
    await c.next('error');
    await c.join('after');
    const ack = await c.say('after', 'fine', randomId());
    expect(ack.id).toMatch(/^\d+-\d+$/);
    await c.close();
  });
});
