import { TestRedis } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, randomId, startApp, TestClient, until } from './harness.js';

/** The Redis tier at its bounds: full (maxmemory, noeviction) and a room whose history expired. */
describe('Redis at its bounds', () => {
  const redis = new TestRedis();
  let pod: RunningApp;
  beforeAll(async () => {
    await redis.start();
    pod = await startApp({
      REDIS_URL: redis.url,
      NODE_ID: 'pod-full',
      ROOM_TTL_S: '1',
      RATE_LIMIT_PER_S: '10000',
      RATE_LIMIT_BURST: '10000',
      USER_RATE_LIMIT_PER_S: '10000',
      USER_RATE_LIMIT_BURST: '10000',
    });
    await until(async () => (await pod.app.inject('/readyz')).statusCode === 200, 'pod ready');
  });
  afterAll(async () => {
    await pod?.close();
    await redis.destroy();
  });

  it('at maxmemory (noeviction) sends are answered unavailable, the pod stays ready, and recovers when memory frees', async () => {
    const admin = redis.client();
    const writer = await TestClient.connect(pod.wsUrl, pod.token('filler'));
    const reader = await TestClient.connect(pod.wsUrl, pod.token('reader'));
    await writer.join('full');
    await reader.join('full');
    await writer.say('full', 'before the limit');
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', String(used + 256 * 1024));
    // Fill it: 2000-char messages until Redis refuses one.
    const text = 'x'.repeat(2000);
    let refused: { code: string; retryAfterMs?: number } | undefined;
    for (let i = 0; i < 2000 && !refused; i++) {
      const id = randomId();
      const before = writer.frames.length;
      writer.send({ type: 'send', room: 'full', clientMsgId: id, text });
      await until(
        () =>
          writer.frames
            .slice(before)
            .some((f) => (f.type === 'ack' && f.clientMsgId === id) || (f.type === 'error' && f.ref === id)),
        'an ack or an error for the send',
      );
      const err = writer.frames.slice(before).find((f) => f.type === 'error' && f.ref === id);
      if (err?.type === 'error') refused = err;
    }
    expect(refused?.code).toBe('unavailable');
    expect(refused?.retryAfterMs).toBeGreaterThan(0);
    // A full store is not a down store: reads, joins and the pod's readiness stay up, so the
    // fleet is not pulled out of the Service all at once. Checked after the pod's heartbeat has
    // hit the full Redis more often than the 3 intervals readiness tolerates.
    const ooms = async () =>
      Number(/errorstat_OOM:count=(\d+)/.exec(await admin.info('errorstats'))?.[1] ?? 0);
    // Right at the limit a small write fits now and then (used_memory moves with client
    // buffers); hold it well over the limit, as other pods' writes would.
    const full = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
    await admin.config('SET', 'maxmemory', String(Math.floor(full * 0.8)));
    const atRefusal = await ooms();
    await until(async () => (await ooms()) >= atRefusal + 4, 'four more OOM refusals', 15_000);
    const ready = await pod.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    const late = await TestClient.connect(pod.wsUrl, pod.token('late'));
    expect((await late.join('full')).type).toBe('joined');
    // Space frees (an operator raises maxmemory, or TTLs expire): sends work again, no restart.
    await admin.config('SET', 'maxmemory', '0');
    const ack = await writer.say('full', 'after the limit');
    // (ROOM_TTL_S is 1 s here, so the room's history may have expired meanwhile: then the
    // message arrives in a resync, see the next test.)
    await until(
      () =>
        reader.frames.some(
          (f) =>
            (f.type === 'msg' && f.id === ack.id) ||
            (f.type === 'resync' && f.messages.some((m) => m.id === ack.id)),
        ),
      'the message, live or in a resync',
    );
    await Promise.all([writer.close(), reader.close(), late.close()]);
    admin.disconnect();
  });

  it('a room whose history expired (ROOM_TTL_S) resyncs its members on the next message', async () => {
    const admin = redis.client();
    const member = await TestClient.connect(pod.wsUrl, pod.token('member'));
    const sender = await TestClient.connect(pod.wsUrl, pod.token('sender'));
    await member.join('expiring');
    await sender.join('expiring');
    const first = await sender.say('expiring', 'before the ttl');
    await member.next('msg', (m) => m.id === first.id);
    expect(await admin.ttl('chat:{expiring}:s')).toBeGreaterThan(0);
    expect(await admin.ttl('chat:{expiring}:i')).toBeGreaterThan(0);
    await expect
      .poll(() => admin.exists('chat:{expiring}:s', 'chat:{expiring}:i'), { timeout: 5000 })
      .toBe(0);
    // The new stream starts over: its first entry does not chain on what the member has.
    const second = await sender.say('expiring', 'after the ttl');
    const resync = await member.next('resync', (r) => r.room === 'expiring');
    expect(resync.reason).toBe('unknown_id');
    expect(resync.messages.map((m) => m.id)).toEqual([second.id]);
    expect(member.messages('expiring').some((m) => m.id === second.id)).toBe(false);
    await Promise.all([member.close(), sender.close()]);
    admin.disconnect();
  });
});
