import { freePort, TestRedis } from '@chat/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp } from './harness.js';

/**
 * What readiness means when the shared Redis is down (README "Readiness choice"): the whole
 * fleet shares it, so by default a pod that has served stays in the Service through an
 * outage (its body says why it is degraded); READINESS_BROKER=always is the strict policy.
 */
describe('readiness and the shared store', () => {
  let redis: TestRedis;
  let app: RunningApp | undefined;

  beforeAll(async () => {
    redis = await new TestRedis().start();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
    if (
      !(await redis
        .client()
        .ping()
        .catch(() => undefined))
    )
      await redis.start();
  });
  afterAll(async () => {
    await redis.destroy();
  });

  const readyz = async (a: RunningApp) => {
    const res = await a.app.inject('/readyz');
    return { code: res.statusCode, broker: res.json().broker as string };
  };

  it('stays ready through an outage after the broker answered once (default), and says so', async () => {
    app = await startApp({ REDIS_URL: redis.url });
    await expect.poll(() => readyz(app as RunningApp)).toEqual({ code: 200, broker: 'ok' });
    await redis.stop();
    await expect.poll(async () => (await readyz(app as RunningApp)).broker).toBe('unavailable');
    expect(await readyz(app)).toEqual({ code: 200, broker: 'unavailable' });
    await redis.start();
    await expect
      .poll(() => readyz(app as RunningApp), { timeout: 15_000 })
      .toEqual({ code: 200, broker: 'ok' });
  });

  it('is not ready before the broker ever answered (a new pod during an outage takes no clients)', async () => {
    app = await startApp({ REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(await readyz(app)).toEqual({ code: 503, broker: 'unavailable' });
  });

  it('READINESS_BROKER=always: not ready whenever the broker does not answer', async () => {
    app = await startApp({ REDIS_URL: redis.url, READINESS_BROKER: 'always' });
    await expect.poll(() => readyz(app as RunningApp)).toEqual({ code: 200, broker: 'ok' });
    await redis.stop();
    await expect.poll(() => readyz(app as RunningApp)).toEqual({ code: 503, broker: 'unavailable' });
    await redis.start();
    await expect
      .poll(() => readyz(app as RunningApp), { timeout: 15_000 })
      .toEqual({ code: 200, broker: 'ok' });
  });
});
