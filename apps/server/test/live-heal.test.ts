import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare, jitter, streamIds, sum, type Tally, view, Writer } from './accounting.js';
import { type RunningApp, startApp, TestClient, until } from './harness.js';
import { TestRedis } from './redis-server.js';

/**
 * Live delivery must not depend on Redis pub/sub being lossless (it is at-most-once). Faults at
 * moments the test does not choose, under traffic, with members on every pod; every member's
 * view is checked against the room's stream in Redis.
 */
describe('live delivery heals itself from the stream', () => {
  const redis = new TestRedis();
  const pods: RunningApp[] = [];
  const env = (node: string) => ({
    REDIS_URL: redis.url,
    NODE_ID: node,
    RATE_LIMIT_PER_S: '10000',
    RATE_LIMIT_BURST: '10000',
    USER_RATE_LIMIT_PER_S: '10000',
    USER_RATE_LIMIT_BURST: '10000',
  });

  beforeAll(async () => {
    await redis.start();
    for (const node of ['pod-a', 'pod-b', 'pod-c']) pods.push(await startApp(env(node)));
    for (const pod of pods) await until(async () => (await pod.app.inject('/readyz')).statusCode === 200);
  });
  afterAll(async () => {
    await Promise.all(pods.map((p) => p.close()));
    await redis.destroy();
  });

  /** Sum of one metric's samples over every pod (heals are the pods' own count, reported only). */
  const metricSum = async (name: string) => {
    let total = 0;
    for (const pod of pods)
      for (const line of (await pod.app.inject('/metrics')).body.split('\n'))
        if (line.startsWith(`${name}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    return total;
  };
  const report = async (name: string, acked: number, t: Tally) =>
    console.log(
      `[${name}] ${JSON.stringify({
        acked,
        ...t,
        heals: await metricSum('chat_live_heals_total'),
        healedMessages: await metricSum('chat_live_healed_messages_total'),
      })}`,
    );

  it('CLIENT KILL TYPE pubsub 12 times under traffic, also during joins: nothing acked is missed', async () => {
    const admin = redis.client();
    const rooms = ['heal-1', 'heal-2'];
    // Three members per room on every pod, joined before any traffic.
    const members: { client: TestClient; room: string }[] = [];
    for (const room of rooms)
      for (const pod of pods)
        for (let i = 0; i < 3; i++) {
          const client = await TestClient.connect(pod.wsUrl, pod.token(`m${i}`));
          await client.join(room);
          members.push({ client, room });
        }
    const writers = rooms.flatMap((r) => pods.map((pod) => ({ pod, r })));
    const writerClients = await Promise.all(
      writers.map(async ({ pod, r }) => {
        const c = await TestClient.connect(pod.wsUrl, pod.token('writer'));
        await c.join(r);
        return new Writer(c, r).start();
      }),
    );
    // Members that leave and rejoin with `since` while the faults happen (join/replay merge).
    const churners = await Promise.all(
      pods.map(async (pod) => {
        const c = await TestClient.connect(pod.wsUrl, pod.token('churner'));
        await c.join('heal-1');
        return c;
      }),
    );
    let churning = true;
    const churn = churners.map(async (c) => {
      while (churning) {
        await jitter(20, 120);
        const before = c.frames.length;
        c.send({ type: 'leave', room: 'heal-1' });
        await c.next('left', (f) => c.frames.indexOf(f) >= before);
        const since = view(c.frames, 'heal-1').ids.at(-1);
        await c.join('heal-1', since);
      }
    });
    // Also joins of brand-new members mid-storm, checked from the page they were handed.
    const late: { client: TestClient; room: string }[] = [];
    for (let k = 0; k < 12; k++) {
      await jitter(50, 300);
      await admin.client('KILL', 'TYPE', 'pubsub');
      const pod = pods[k % pods.length] as RunningApp;
      const client = await TestClient.connect(pod.wsUrl, pod.token(`late${k}`));
      const room = rooms[k % 2] as string;
      await client.join(room);
      late.push({ client, room });
    }
    await jitter(100, 200);
    churning = false;
    await Promise.all(churn);
    await Promise.all(writerClients.map((w) => w.stop()));
    const acked = writerClients.reduce((n, w) => n + w.acked.length, 0);
    expect(acked).toBeGreaterThan(100);

    const tallies: Tally[] = [];
    const check = async (client: TestClient, room: string, stream: string[], fromStart: boolean) => {
      // A member that joined mid-traffic was handed the latest page: checked from its first id on.
      const first = view(client.frames, room).ids[0];
      const fromIndex = fromStart || first === undefined ? 0 : stream.indexOf(first);
      expect(fromIndex).toBeGreaterThanOrEqual(0);
      await expect
        .poll(() => view(client.frames, room).ids.length, { timeout: 15_000 })
        .toBeGreaterThanOrEqual(stream.length - fromIndex);
      const v = view(client.frames, room);
      expect(v.resyncs).toBe(0);
      expect(v.chainBreaks).toBe(0);
      tallies.push(compare(v.ids, stream, fromIndex));
    };
    for (const room of rooms) {
      const stream = await streamIds(admin, room);
      for (const m of members) if (m.room === room) await check(m.client, room, stream, true);
      for (const m of late) if (m.room === room) await check(m.client, room, stream, false);
      if (room === 'heal-1') for (const c of churners) await check(c, room, stream, false);
    }
    const total = sum(tallies);
    await report('pubsub kill x12', acked, total);
    expect(total.lost).toBe(0);
    expect(total.duplicates).toBe(0);
    expect(total.outOfOrder).toBe(0);
    admin.disconnect();
    await Promise.all(
      [...members, ...late].map((m) => m.client.close()).concat(churners.map((c) => c.close())),
    );
  }, 120_000);
});
