import { freePort, TestRedis } from '@chat/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp, TestClient } from './harness.js';

/** The `status` frame: clients hear when the pod's broker is unreachable, and when it is back. */
describe('service status over the socket', () => {
  let redis: TestRedis;
  let app: RunningApp | undefined;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    redis = await new TestRedis().start();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await app?.close();
    app = undefined;
  });
  afterAll(async () => {
    await redis.destroy();
  });

  async function connect(a: RunningApp): Promise<TestClient> {
    const c = await TestClient.connect(a.wsUrl, a.token('ann'), {
      headers: { origin: 'http://allowed.example' },
    });
    clients.push(c);
    return c;
  }

  it('says nothing while healthy, then degraded within 3 s of Redis stopping, then ok when it is back', async () => {
    app = await startApp({ REDIS_URL: redis.url });
    const c = await connect(app);
    await c.join('general');
    expect(c.frames.some((f) => f.type === 'status')).toBe(false);
    const up = async () =>
      /chat_broker_up\{[^}]*\} (\d+)/.exec(await (app as RunningApp).app.metrics.registry.metrics())?.[1];
    expect(await up()).toBe('1');

    const stoppedAt = Date.now();
    await redis.stop();
    const degraded = await c.next('status', (f) => f.service === 'degraded', 3_000);
    expect(Date.now() - stoppedAt).toBeLessThan(3_000);
    expect(degraded.reason).toMatch(/^Redis at 127\.0\.0\.1:\d+ is (unreachable|not answering)/);
    expect(await up()).toBe('0');

    // A socket opened during the outage is told right after its welcome.
    const late = await connect(app);
    const greeted = await late.next('status');
    expect(greeted.service).toBe('degraded');
    expect(late.frames.findIndex((f) => f.type === 'status')).toBe(
      late.frames.findIndex((f) => f.type === 'welcome') + 1,
    );

    await redis.start();
    await c.next('status', (f) => f.service === 'ok', 10_000);
    await late.next('status', (f) => f.service === 'ok', 10_000);
    expect(await up()).toBe('1');
    expect((await late.join('general')).type).toBe('joined');
  });

  it('a Redis on a wrong port: degraded from the first frame, a failed join says why, readiness 503', async () => {
    const port = await freePort();
    app = await startApp({ REDIS_URL: `redis://127.0.0.1:${port}` });
    expect((await app.app.inject({ url: '/readyz' })).statusCode).toBe(503);
    const c = await connect(app);
    const status = await c.next('status');
    expect(status).toEqual({
      type: 'status',
      service: 'degraded',
      reason: `Redis at 127.0.0.1:${port} is unreachable (ECONNREFUSED)`,
    });
    const before = c.frames.length;
    c.send({ type: 'join', room: 'general' });
    const error = await c.next('error', (f) => f.ref === 'general');
    expect(error.code).toBe('unavailable');
    await c.next('status', () => c.frames.filter((f) => f.type === 'status').length >= 2);
    const after = c.frames.slice(before);
    expect(after.map((f) => f.type)).toEqual(['error', 'status']);
    expect(after[1]).toEqual(status);
  });

  it('the memory broker is always ok: no status frame at all', async () => {
    app = await startApp();
    const c = await connect(app);
    await c.join('general');
    await c.say('general', 'hi');
    expect(c.frames.some((f) => f.type === 'status')).toBe(false);
  });
});
