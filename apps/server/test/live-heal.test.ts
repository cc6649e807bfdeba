import { TestRedis } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  compare,
  jitter,
  metricSum,
  RoamingMember,
  streamIds,
  sum,
  type Tally,
  view,
  Writer,
} from './accounting.js';
import { type RunningApp, startApp, TestClient, until } from './harness.js';

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
    // The stream is the ground truth: keep all of it (trimming would drop the ids being checked).
    HISTORY_MAXLEN: '1000000',
    RATE_LIMIT_PER_S: '10000',
    RATE_LIMIT_BURST: '10000',
    USER_RATE_LIMIT_PER_S: '10000',
    USER_RATE_LIMIT_BURST: '10000',
  });

  beforeAll(async () => {
    await redis.start();
    for (const node of ['pod-a', 'pod-b', 'pod-c']) pods.push(await startApp(env(node)));
    for (const pod of pods)
      await until(async () => (await pod.app.inject('/readyz')).statusCode === 200, 'pod ready');
  });
  afterAll(async () => {
    await Promise.all(pods.map((p) => p.close()));
    await redis.destroy();
  });

  /** Sum of one metric's samples over every pod (heals are the pods' own count, reported only). */
  const report = async (name: string, acked: number, t: Tally, running: RunningApp[] = pods) =>
    console.log(
      `[${name}] ${JSON.stringify({
        acked,
        ...t,
        heals: await metricSum('chat_live_heals_total', running),
        healedMessages: await metricSum('chat_live_healed_messages_total', running),
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

  it('Redis restarted in the middle of a roll, 5 times: every member that stayed gets every acked message once', async () => {
    const admin = redis.client();
    admin.on('error', () => {}); // Redis is stopped on purpose below
    const rooms = ['roll-1', 'roll-2'];
    // Writers on a pod that is not rolled; members on the rolled ones, moving as pods go.
    const stable = pods[0] as RunningApp;
    let rolled = pods.slice(1);
    const pick = () => {
      const pod = rolled[Math.floor(Math.random() * rolled.length)] as RunningApp;
      return { wsUrl: pod.wsUrl, token: pod.token('roamer') };
    };
    const members = await within(
      'members join',
      Promise.all(
        Array.from({ length: 20 }, (_, i) => new RoamingMember(rooms[i % 2] as string, pick).start()),
      ),
    );
    const writers = await Promise.all(
      [...rooms, ...rooms, ...rooms].map(async (room) => {
        const c = await TestClient.connect(stable.wsUrl, stable.token('writer'));
        await c.join(room);
        return new Writer(c, room).start();
      }),
    );
    let generation = 0;
    const replace = async (old: RunningApp) => {
      const fresh = await within('start a pod', startApp(env(`pod-r${generation++}`)));
      rolled = [...rolled.filter((p) => p !== old), fresh];
      // Its members get 1001 and move to the other pods.
      await within(`close ${old.app.config.NODE_ID}`, old.close(), 20_000);
    };
    for (let round = 0; round < 5; round++) {
      await jitter(100, 300);
      await within(`round ${round}: replace`, replace(rolled[0] as RunningApp));
      await within(`round ${round}: redis stop`, redis.stop());
      await jitter(200, 1200);
      // A pod starts while Redis is down.
      await within(`round ${round}: replace during the outage`, replace(rolled[0] as RunningApp));
      await within(`round ${round}: redis start`, redis.start());
      await jitter(100, 300);
    }
    await until(
      async () => (await rolled[0]?.app.inject('/readyz'))?.statusCode === 200,
      'rolled pod ready',
      15_000,
    );
    await jitter(300, 500);
    await within('writers stop', Promise.all(writers.map((w) => w.stop())));
    const acked = writers.reduce((n, w) => n + w.acked.length, 0);
    expect(acked).toBeGreaterThan(20);

    const tallies: Tally[] = [];
    for (const room of rooms) {
      const stream = await streamIds(admin, room);
      for (const m of members.filter((_, i) => rooms[i % 2] === room)) {
        await expect
          .poll(() => view(m.frames, room).ids.length, { timeout: 20_000 })
          .toBeGreaterThanOrEqual(stream.length);
        const v = view(m.frames, room);
        expect(v.resyncs).toBe(0);
        tallies.push(compare(v.ids, stream));
      }
    }
    const total = sum(tallies);
    // Heals counted by the pods still running (the replaced ones took their counts with them).
    await report('redis restart mid-roll x5', acked, total, [stable, ...rolled]);
    console.log(`  member reconnects: ${members.reduce((n, m) => n + m.reconnects, 0)}`);
    expect(total.lost).toBe(0);
    expect(total.duplicates).toBe(0);
    expect(total.outOfOrder).toBe(0);
    await within('members stop', Promise.all(members.map((m) => m.stop())));
    admin.disconnect();
    pods.splice(1, pods.length - 1, ...rolled);
  }, 180_000);
});

/** The promise, or a failure naming the step when it takes longer than `ms` (a hang says where). */
async function within<T>(step: string, p: Promise<T>, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step "${step}" took more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
