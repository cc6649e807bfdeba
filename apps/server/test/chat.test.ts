import { createSigner } from 'fast-jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, randomId, SECRET, startApp, TestClient } from './harness.js';

describe('chat over the memory broker', () => {
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({
      RATE_LIMIT_PER_S: '10000',
      RATE_LIMIT_BURST: '10000',
      USER_RATE_LIMIT_PER_S: '10000',
      USER_RATE_LIMIT_BURST: '10000',
      HISTORY_MAXLEN: '150',
    });
  });
  afterAll(async () => {
    await srv.close();
  });

  it('welcomes, joins, acks and delivers to every member', async () => {
    const a = await TestClient.connect(srv.wsUrl, srv.token('ada'));
    const b = await TestClient.connect(srv.wsUrl, srv.token('bob'));
    const welcome = await a.next('welcome');
    expect(welcome.user.name).toBe('ada');
    expect(welcome.node).toBe(srv.app.config.NODE_ID);
    expect((await a.join('general')).type).toBe('joined');
    await b.join('general');
    const ack = await a.say('general', 'hello');
    expect(ack.duplicate).toBe(false);
    const got = await b.next('msg', (m) => m.id === ack.id);
    expect(got).toMatchObject({ text: 'hello', from: { name: 'ada' }, room: 'general' });
    await a.next('msg', (m) => m.id === ack.id);
    await Promise.all([a.close(), b.close()]);
  });

  it('sends the latest page of history on a fresh join, with presence', async () => {
    const a = await TestClient.connect(srv.wsUrl, srv.token('ada'));
    await a.join('history');
    const sent = [];
    for (let i = 0; i < 60; i++) sent.push((await a.say('history', `h${i}`)).id);
    const b = await TestClient.connect(srv.wsUrl, srv.token('bob'));
    const joined = await b.join('history');
    expect(joined.type).toBe('joined');
    expect(joined.messages.map((m) => m.id)).toEqual(sent.slice(-50)); // HISTORY_PAGE default 50
    expect(joined.presence.map((p) => p.name).sort()).toEqual(['ada', 'bob']);
    await a.next('presence', (p) => p.join.some((e) => e.name === 'bob'));
    await b.close();
    await a.next('presence', (p) => p.leave.length === 1);
    await a.close();
  });

  it('resumes after a gap of 100 messages with exactly those 100, in order, no duplicates', async () => {
    const reader = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    const writer = await TestClient.connect(srv.wsUrl, srv.token('writer'));
    await reader.join('resume');
    await writer.join('resume');
    const before = await writer.say('resume', 'before the gap');
    await reader.next('msg', (m) => m.id === before.id);
    await reader.close();

    const gap: string[] = [];
    for (let i = 0; i < 100; i++) gap.push((await writer.say('resume', `gap ${i}`)).id);

    const back = await TestClient.connect(srv.wsUrl, srv.token('reader'));
    const joined = await back.join('resume', before.id);
    expect(joined.type).toBe('joined');
    if (joined.type !== 'joined') return;
    expect(joined.resumed).toBe(true);
    expect(joined.messages.map((m) => m.id)).toEqual(gap);
    expect(joined.messages.map((m) => m.text)).toEqual(gap.map((_, i) => `gap ${i}`));
    // Live delivery continues after the replay without repeating it.
    const after = await writer.say('resume', 'after');
    await back.next('msg', (m) => m.id === after.id);
    expect(back.messages('resume').map((m) => m.id)).toEqual([after.id]);
    await Promise.all([back.close(), writer.close()]);
  });

  it('shows a resend with the same clientMsgId once', async () => {
    const a = await TestClient.connect(srv.wsUrl, srv.token('ada'));
    const b = await TestClient.connect(srv.wsUrl, srv.token('bob'));
    await a.join('idem');
    await b.join('idem');
    const cm = randomId();
    const first = await a.say('idem', 'only once', cm);
    // The ack was "lost": the client reconnects and resends the same message.
    await a.close();
    const again = await TestClient.connect(srv.wsUrl, srv.token('ada'));
    await again.join('idem', first.id);
    const dup = await again.say('idem', 'only once', cm);
    expect(dup).toMatchObject({ id: first.id, duplicate: true });
    const marker = await b.say('idem', 'marker');
    await b.next('msg', (m) => m.id === marker.id);
    expect(b.messages('idem').filter((m) => m.clientMsgId === cm)).toHaveLength(1);
    const fresh = await TestClient.connect(srv.wsUrl, srv.token('carol'));
    const history = await fresh.join('idem');
    expect(history.messages.filter((m) => m.clientMsgId === cm)).toHaveLength(1);
    await Promise.all([again.close(), b.close(), fresh.close()]);
  });

  it('answers a resume point older than history with an explicit resync', async () => {
    const a = await TestClient.connect(srv.wsUrl, srv.token('ada'));
    await a.join('old');
    const first = await a.say('old', 'first');
    for (let i = 0; i < 200; i++) await a.say('old', `filler ${i}`);
    const b = await TestClient.connect(srv.wsUrl, srv.token('bob'));
    const reply = await b.join('old', first.id);
    expect(reply).toMatchObject({ type: 'resync', reason: 'trimmed' });
    expect(reply.messages).toHaveLength(50);
    expect(reply.messages.at(-1)?.text).toBe('filler 199');
    const unknown = await b.join('old', '99999999999999-0');
    expect(unknown).toMatchObject({ type: 'resync', reason: 'unknown_id' });
    await Promise.all([a.close(), b.close()]);
  });

  it('answers ping with pong and leave with left', async () => {
    const a = await TestClient.connect(srv.wsUrl, srv.token('ada'));
    a.send({ type: 'ping', t: 42 });
    expect((await a.next('pong')).t).toBe(42);
    await a.join('x');
    a.send({ type: 'leave', room: 'x' });
    await a.next('left', (f) => f.room === 'x');
    a.send({ type: 'send', room: 'x', clientMsgId: randomId(), text: 'nope' });
    expect((await a.next('error')).code).toBe('not_joined');
    await a.close();
  });
});

describe('bad input and refused clients', () => {
  let srv: RunningApp;
  let bystanderA: TestClient;
  let bystanderB: TestClient;
  beforeAll(async () => {
    srv = await startApp({
      MAX_PAYLOAD_BYTES: '1024',
      MAX_TEXT_CHARS: '100',
      RATE_LIMIT_PER_S: '5',
      RATE_LIMIT_BURST: '5',
      RATE_LIMIT_CLOSE_AFTER: '20',
      MAX_ROOMS_PER_CONN: '3',
    });
    bystanderA = await TestClient.connect(srv.wsUrl, srv.token('bystander-a'));
    bystanderB = await TestClient.connect(srv.wsUrl, srv.token('bystander-b'));
    await bystanderA.join('lobby');
    await bystanderB.join('lobby');
  });
  afterAll(async () => {
    // Whatever the attackers did, the bystanders on the same server still chat.
    const ack = await bystanderA.say('lobby', 'still here');
    expect((await bystanderB.next('msg', (m) => m.id === ack.id)).text).toBe('still here');
    await Promise.all([bystanderA.close(), bystanderB.close()]);
    await srv.close();
  });

  const errorFor = async (raw: string | Buffer, binary = false) => {
    const c = await TestClient.connect(srv.wsUrl, srv.token('mallory'));
    c.ws.send(raw, { binary });
    const err = await c.next('error');
    await c.close();
    return err;
  };

  it.each([
    ['invalid JSON', '{"type":', 'bad_json'],
    ['a JSON array', '[1,2,3]', 'bad_frame'],
    ['an unknown frame type', '{"type":"shutdown"}', 'unknown_type'],
    ['a prototype key as type', '{"type":"__proto__"}', 'unknown_type'],
    ['a wrong field type', '{"type":"join","room":42}', 'bad_frame'],
    ['an unknown field', '{"type":"ping","extra":true}', 'bad_frame'],
    ['a bad room name', '{"type":"join","room":"../etc"}', 'bad_frame'],
  ])('answers %s with %s', async (_name, raw, code) => {
    const err = await errorFor(raw);
    expect(err.code).toBe(code);
    expect(err.message).not.toBe('');
  });

  it('answers a binary frame with binary_unsupported', async () => {
    expect((await errorFor(Buffer.from([1, 2, 3]), true)).code).toBe('binary_unsupported');
  });

  it('answers an over-long message with text_too_long and never stores it', async () => {
    const c = await TestClient.connect(srv.wsUrl, srv.token('mallory'));
    await c.join('lobby');
    const cm = randomId();
    c.send({ type: 'send', room: 'lobby', clientMsgId: cm, text: 'x'.repeat(101) });
    expect(await c.next('error')).toMatchObject({ code: 'text_too_long', ref: cm });
    await c.close();
  });

  it('closes a frame larger than maxPayload with 1009', async () => {
    const c = await TestClient.connect(srv.wsUrl, srv.token('mallory'));
    c.ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(2000) }));
    expect((await c.closed).code).toBe(1009);
  });

  it('limits rooms per connection', async () => {
    const c = await TestClient.connect(srv.wsUrl, srv.token('mallory'));
    for (const r of ['r1', 'r2', 'r3']) await c.join(r);
    c.send({ type: 'join', room: 'r4' });
    expect(await c.next('error')).toMatchObject({ code: 'too_many_rooms', ref: 'r4' });
    await c.close();
  });

  it('refuses a private room the token does not allow', async () => {
    const c = await TestClient.connect(srv.wsUrl, srv.token('mallory', { rooms: ['mine'] }));
    c.send({ type: 'join', room: 'theirs' });
    expect(await c.next('error')).toMatchObject({ code: 'forbidden_room', ref: 'theirs' });
    expect((await c.join('mine')).type).toBe('joined');
    await c.close();
  });

  it('rate-limits a flooding socket, then closes it with 4429', async () => {
    const c = await TestClient.connect(srv.wsUrl, srv.token('mallory'));
    for (let i = 0; i < 40; i++) c.send({ type: 'ping', t: i });
    const limited = await c.next('error', (e) => e.code === 'rate_limited');
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    const closed = await c.closed;
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/retry=\d+/);
  });

  it.each([
    ['no token', undefined],
    [
      'a forged token',
      createSigner({ key: 'another-secret-of-at-least-32-characters!!', aud: 'chat', iss: 'realtime-chat' })({
        sub: 'u',
        name: 'x',
      }),
    ],
    [
      'a token for another audience',
      createSigner({ key: SECRET, aud: 'other', iss: 'realtime-chat' })({ sub: 'u', name: 'x' }),
    ],
    [
      'an expired token',
      createSigner({ key: SECRET, aud: 'chat', iss: 'realtime-chat', expiresIn: 1 })({
        sub: 'u',
        name: 'x',
        iat: 1000,
      }),
    ],
    ['garbage', 'not-a-jwt'],
  ])('refuses the upgrade with 401 for %s', async (_name, token) => {
    const c = new TestClient(srv.wsUrl, token);
    await expect(c.opened).rejects.toThrow('HTTP 401');
  });

  it('refuses an Origin outside the allow-list with 403, accepts one inside', async () => {
    const bad = new TestClient(srv.wsUrl, srv.token(), { origin: 'http://evil.example' });
    await expect(bad.opened).rejects.toThrow('HTTP 403');
    const good = await TestClient.connect(srv.wsUrl, srv.token(), {
      headers: { origin: 'http://allowed.example' },
    });
    await good.close();
  });

  it('counts refusals in metrics', async () => {
    const body = await srv.app.metrics.registry.metrics();
    expect(body).toMatch(/chat_upgrades_refused_total\{reason="token",node="[^"]+"\} [1-9]/);
    expect(body).toMatch(/chat_frames_in_total\{type="invalid"/);
  });
});
