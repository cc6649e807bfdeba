import { randomUUID } from 'node:crypto';
import { TestRedis } from '@chat/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../src/broker/redis.js';
import { until } from './harness.js';
import { singleLink } from './redis-links.js';

/**
 * Redis memory stays bounded by design: every key the broker writes expires or is trimmed or
 * removed with what it tracks, and no server command blocks Redis (SLOWLOG). Figures printed.
 */
describe('bounded Redis memory', () => {
  const redis = new TestRedis();
  let admin: Redis;
  const brokers: RedisBroker[] = [];
  let n = 0;
  const broker = async (opts: Partial<ConstructorParameters<typeof RedisBroker>[0]> = {}) => {
    const link = await singleLink(redis.url);
    const b = new RedisBroker({
      link,
      prefix: 'mem:',
      nodeId: `node-${n++}`,
      maxLen: 1000,
      idempotencyTtlS: 86400,
      roomTtlS: 2,
      healthIntervalMs: 200,
      ...opts,
    });
    brokers.push(b);
    return b;
  };
  const used = async () => Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))?.[1]);
  const slowlog = async () =>
    ((await admin.slowlog('GET', 1024)) as [number, number, number, string[]][]).map(([, , us, args]) => ({
      us,
      cmd: args.slice(0, 2).join(' '),
    }));
  /** Runs `count` tasks, `width` at a time. */
  const inParallel = async (count: number, width: number, task: (i: number) => Promise<unknown>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: width }, async () => {
        while (next < count) await task(next++);
      }),
    );
  };
  const body = (room: string, text: string, id: string) =>
    JSON.stringify({
      room,
      from: { id: 'u-1234567890', name: 'Ada' },
      text,
      ts: Date.now(),
      clientMsgId: id,
    });

  beforeAll(async () => {
    await redis.start();
    admin = redis.client();
    await admin.config('SET', 'slowlog-log-slower-than', '5000');
    await admin.config('SET', 'slowlog-max-len', '1024');
  });
  afterAll(async () => {
    await Promise.all(brokers.map((b) => b.close()));
    admin.disconnect();
    await redis.destroy();
  });

  it('bytes per message, per full room and per idle room; a room stops growing at its history bound', async () => {
    const b = await broker({ roomTtlS: 3600 });
    const text = 'a typical chat line of about sixty characters, give or take.';
    const usage = async (...keys: string[]) => {
      let total = 0;
      for (const k of keys) total += Number(await admin.memory('USAGE', k, 'SAMPLES', '0')) || 0;
      return total;
    };
    const send = async (room: string, count: number) => {
      for (let i = 0; i < count; i++) {
        const id = randomUUID();
        await b.append(room, body(room, text, id), id);
      }
    };
    await admin.flushall();
    let base = await used();
    await send('full-room', 1000);
    const keys = ['mem:{full-room}:s', 'mem:{full-room}:i'];
    const perMessage = ((await used()) - base) / 1000;
    const perMessageKeys = (await usage(...keys)) / 1000;
    // Three times the history later the room holds the same: the stream is trimmed and its
    // clientMsgIds go with the trimmed entries.
    const fullRoom = await usage(...keys);
    await send('full-room', 2000);
    const later = await usage(...keys);
    expect(await admin.xlen(keys[0] as string)).toBeLessThanOrEqual(1000 + 100);
    expect(await admin.hlen(keys[1] as string)).toBe(await admin.xlen(keys[0] as string));
    expect(later).toBeLessThan(fullRoom * 1.15);
    // The layout before: XADD MAXLEN ~ plus one `SET key id EX 86400` per message, never trimmed.
    await admin.flushall();
    base = await used();
    for (let i = 0; i < 1000; i++) {
      const id = randomUUID();
      const sid = await admin.xadd('mem:{old}:s', 'MAXLEN', '~', '1000', '*', 'b', body('old', text, id));
      await admin.set(`mem:{old}:i:${id}`, sid ?? '', 'EX', 86400);
    }
    const perMessageBefore = ((await used()) - base) / 1000;
    await admin.flushall();
    base = await used();
    for (let i = 0; i < 1000; i++) await send(`idle-${i}`, 1);
    const perIdleRoom = ((await used()) - base) / 1000;
    console.log(
      `memory: ${perMessage.toFixed(0)} B per message (used_memory; ${perMessageKeys.toFixed(0)} B by MEMORY USAGE of the room's keys), ` +
        `before ${perMessageBefore.toFixed(0)} B per message and unbounded (a key per message for IDEMPOTENCY_TTL_S); ` +
        `a full room (1000 messages) ${(fullRoom / 1024).toFixed(0)} KiB, still ${(later / 1024).toFixed(0)} KiB after 2000 more; ` +
        `${perIdleRoom.toFixed(0)} B per idle room with one message, freed after ROOM_TTL_S`,
    );
    await admin.flushall();
  });

  // SLOWLOG times are wall-clock: on a shared, overloaded machine a preempted Redis logs even a
  // single HDEL at 10-100 ms. One retry tells such a stall (random) from a command that blocks
  // by design (it would block again, like the old one-script reap at 1.09 s).
  it('50,000 rooms and 100,000 messages with joins and leaves: back to the start once the TTLs pass, no command over 50 ms', {
    retry: 1,
    timeout: 120_000,
  }, async () => {
    const nodeId = 'churner';
    const b = await broker({ nodeId });
    // Warm up (scripts loaded, heartbeat keys written), then take the baseline once it expired.
    const warm = randomUUID();
    await b.append('warm', body('warm', 'x', warm), warm);
    await b.presence.add('warm', { key: 'node-x/c', id: 'u', name: 'n' });
    await b.presence.remove('warm', 'node-x/c');
    await expect.poll(() => admin.exists('mem:{warm}:s'), { timeout: 10_000 }).toBe(0);
    const startKeys = await admin.dbsize();
    const startMem = await used();
    await admin.slowlog('RESET');
    const rooms = 50_000;
    const started = Date.now();
    await inParallel(rooms, 200, async (i) => {
      const room = `churn-${i}`;
      const key = `${nodeId}/c${i}`;
      await b.presence.add(room, { key, id: `u${i}`, name: `user ${i}` });
      for (let m = 0; m < 2; m++) {
        const id = randomUUID();
        await b.append(room, body(room, `message ${m} in room ${i}`, id), id);
      }
      await b.presence.remove(room, key);
    });
    const churnMs = Date.now() - started;
    const peakKeys = await admin.dbsize();
    const peakMem = await used();
    // The node's room structure holds only rooms the pod is in now: none.
    expect(await admin.exists(`mem:{node:${nodeId}}:rooms`)).toBe(0);
    await until(async () => (await admin.dbsize()) <= startKeys, 'DBSIZE back to the start', 30_000);
    await until(async () => (await used()) <= startMem * 1.1, 'used_memory back within 10 %', 30_000);
    const endMem = await used();
    const slow = await slowlog();
    const longest = slow.reduce((m, s) => Math.max(m, s.us), 0);
    console.log(
      `churn: ${rooms} rooms, ${rooms * 2} messages, ${rooms * 2} joins/leaves in ${churnMs} ms; keys ${startKeys} -> ${peakKeys} -> ${await admin.dbsize()}, ` +
        `used_memory ${startMem} -> ${peakMem} -> ${endMem} B; SLOWLOG over 5 ms: ${slow.length} (longest ${(longest / 1000).toFixed(1)} ms${slow[0] ? `, ${slow[0].cmd}` : ''})`,
    );
    expect(slow.filter((s) => s.us > 50_000)).toEqual([]);
  });

  it("reaps a crashed pod's presence in 20,000 rooms in small steps (no command over 50 ms), and its keys go with it", async () => {
    // The crashed pod: it joined every room, then went silent (no heartbeat, no goodbye).
    const deadId = 'crashed';
    const dead = await broker({ nodeId: deadId, healthIntervalMs: 3_600_000, roomTtlS: 3600 });
    const rooms = 20_000;
    await inParallel(rooms, 200, (i) =>
      dead.presence.add(`crash-${i}`, { key: `${deadId}/c${i}`, id: `u${i}`, name: `user ${i}` }),
    );
    expect(await admin.scard(`mem:{node:${deadId}}:rooms`)).toBe(rooms);
    await admin.zadd('mem:nodes', 1, deadId);
    await admin.slowlog('RESET');
    const started = Date.now();
    await broker(); // a live pod: its heartbeat finds the dead one and reaps it
    await until(async () => (await admin.zscore('mem:nodes', deadId)) === null, 'dead pod reaped', 60_000);
    const reapMs = Date.now() - started;
    expect(await admin.exists(`mem:{node:${deadId}}:rooms`, 'mem:{crash-0}:p', 'mem:{crash-19999}:p')).toBe(
      0,
    );
    const slow = await slowlog();
    const longest = slow.reduce((m, s) => Math.max(m, s.us), 0);
    console.log(
      `reap: ${rooms} rooms of a dead pod in ${reapMs} ms; SLOWLOG over 5 ms: ${slow.length} (longest ${(longest / 1000).toFixed(1)} ms)`,
    );
    expect(slow.filter((s) => s.us > 50_000)).toEqual([]);
  }, 120_000);
});
