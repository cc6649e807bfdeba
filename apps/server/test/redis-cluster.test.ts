import { TestRedis } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp, TestClient, until } from './harness.js';

/** Two app instances ("pods") on one private Redis: the multi-pod guarantees. */
describe('two pods on one Redis', () => {
  const redis = new TestRedis();
  let podA: RunningApp;
  let podB: RunningApp;
  const env = () => ({
    REDIS_URL: redis.url,
    RATE_LIMIT_PER_S: '10000',
    RATE_LIMIT_BURST: '10000',
    USER_RATE_LIMIT_PER_S: '10000',
    USER_RATE_LIMIT_BURST: '10000',
  });

  beforeAll(async () => {
    await redis.start();
    podA = await startApp({ ...env(), NODE_ID: 'pod-a' });
    podB = await startApp({ ...env(), NODE_ID: 'pod-b' });
    await until(async () => (await podA.app.inject('/readyz')).statusCode === 200, 'pod A ready');
    await until(async () => (await podB.app.inject('/readyz')).statusCode === 200, 'pod B ready');
  });
  afterAll(async () => {
    await Promise.all([podA?.close(), podB?.close()]);
    await redis.destroy();
  });

  it('delivers a message sent on pod A to a member on pod B', async () => {
    const a = await TestClient.connect(podA.wsUrl, podA.token('ada'));
    const b = await TestClient.connect(podB.wsUrl, podB.token('bob'));
    expect((await a.next('welcome')).node).toBe('pod-a');
    expect((await b.next('welcome')).node).toBe('pod-b');
    await a.join('fanout');
    await b.join('fanout');
    const ack = await a.say('fanout', 'across pods');
    expect((await b.next('msg', (m) => m.id === ack.id)).text).toBe('across pods');
    await Promise.all([a.close(), b.close()]);
  });

  it('keeps one order for everyone when both pods publish at once', async () => {
    const a = await TestClient.connect(podA.wsUrl, podA.token('ada'));
    const b = await TestClient.connect(podB.wsUrl, podB.token('bob'));
    await a.join('order');
    await b.join('order');
    const acks = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).say('order', `m${i}`)),
    );
    const last = acks.map((x) => x.id).sort();
    await expect.poll(() => a.messages('order').length).toBe(100);
    await expect.poll(() => b.messages('order').length).toBe(100);
    expect(a.messages('order').map((m) => m.id)).toEqual(b.messages('order').map((m) => m.id));
    expect(new Set(a.messages('order').map((m) => m.id))).toEqual(new Set(last));
    await Promise.all([a.close(), b.close()]);
  });

  it('resumes on pod B from an id seen on pod A, with no gap and no duplicate', async () => {
    const a = await TestClient.connect(podA.wsUrl, podA.token('reader'));
    const w = await TestClient.connect(podA.wsUrl, podA.token('writer'));
    await a.join('move');
    await w.join('move');
    const seen = await w.say('move', 'seen on A');
    await a.next('msg', (m) => m.id === seen.id);
    await a.close();
    const gap = [];
    for (let i = 0; i < 100; i++) gap.push((await w.say('move', `gap ${i}`)).id);
    const b = await TestClient.connect(podB.wsUrl, podB.token('reader'));
    const joined = await b.join('move', seen.id);
    expect(joined.type === 'joined' && joined.messages.map((m) => m.id)).toEqual(gap);
    await Promise.all([b.close(), w.close()]);
  });

  it('catches up what live delivery missed while the subscriber connection was down', async () => {
    const reader = await TestClient.connect(podB.wsUrl, podB.token('reader'));
    const writer = await TestClient.connect(podA.wsUrl, podA.token('writer'));
    await reader.join('blip');
    await writer.join('blip');
    const warm = await writer.say('blip', 'warm-up');
    await reader.next('msg', (m) => m.id === warm.id);
    // Kill pod B's pub/sub connection only: messages published until it re-subscribes are not
    // delivered live to B, and must come from the stream instead.
    const admin = redis.client();
    await admin.client('KILL', 'TYPE', 'pubsub');
    const sent = [];
    for (let i = 0; i < 30; i++) sent.push((await writer.say('blip', `during ${i}`)).id);
    await expect.poll(() => reader.messages('blip').length, { timeout: 10_000 }).toBe(31);
    expect(reader.messages('blip').map((m) => m.id)).toEqual([warm.id, ...sent]);
    admin.disconnect();
    await Promise.all([reader.close(), writer.close()]);
  });

  it('reports a Redis outage on readiness, refuses sends clearly, and recovers by itself', async () => {
    const a = await TestClient.connect(podA.wsUrl, podA.token('ada'));
    const b = await TestClient.connect(podB.wsUrl, podB.token('bob'));
    await a.join('outage');
    await b.join('outage');
    const before = await a.say('outage', 'before');
    await b.next('msg', (m) => m.id === before.id);

    await redis.stop();
    // The outage is seen and reported, and the pod stays in the Service (READINESS_BROKER
    // startup): every pod shares this Redis, so failing readiness would only empty the fleet.
    await expect.poll(async () => (await podA.app.inject('/readyz')).json().broker).toBe('unavailable');
    expect((await podA.app.inject('/readyz')).statusCode).toBe(200);
    a.send({ type: 'send', room: 'outage', clientMsgId: 'during-outage-1', text: 'during' });
    const refused = await a.next('error', (e) => e.ref === 'during-outage-1');
    expect(refused.code).toBe('unavailable');
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect((await podA.app.inject('/livez')).statusCode).toBe(200);

    await redis.start();
    await expect
      .poll(async () => (await podA.app.inject('/readyz')).json().broker, { timeout: 15_000 })
      .toBe('ok');
    await expect
      .poll(async () => (await podB.app.inject('/readyz')).json().broker, { timeout: 15_000 })
      .toBe('ok');
    // The refused message is resent with the same id and now stored; history survived (AOF).
    const resent = await a.say('outage', 'during', 'during-outage-1');
    expect(resent.duplicate).toBe(false);
    await expect
      .poll(() => b.messages('outage').map((m) => m.text), { timeout: 10_000 })
      .toEqual(['before', 'during']);
    const fresh = await TestClient.connect(podB.wsUrl, podB.token('carol'));
    const history = await fresh.join('outage');
    expect(history.messages.map((m) => m.text)).toEqual(['before', 'during']);
    await Promise.all([a.close(), b.close(), fresh.close()]);
  });
});
