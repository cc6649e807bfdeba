import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestRedis } from '@chat/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomId, type ServerProcess, spawnServer, TestClient } from './harness.js';
import type { AttackOrder, AttackOutcome } from './history-attack.js';
import { HONEST_RTT_BOUND_MS, HonestProcess, MiB, within } from './security-helpers.js';

/**
 * History-read flood: a room of 1,000 messages of 6 KB, and 400 sockets that all join it at
 * once with an old `since` (36 KB of join frames on the wire), retrying when refused. Replayed
 * in one XRANGE per join, Redis built 400 replies of 6 MB in its client output buffers (4.6 GB
 * used_memory, honest round trips past 5 s, no attacker ever served). Replay is paged, one
 * join at a time per socket, HISTORY_READS_PER_POD at once per pod within
 * HISTORY_READ_BYTES_PER_S: Redis memory stays under a bound, the honest user on the same pod
 * keeps fast round trips, and what every attacker gets is exactly the history it asked for (or
 * a `busy` refusal it retries).
 */
const MESSAGES = 1000;
/** 2,000 three-byte characters: 6 KB of UTF-8 per message. */
const TEXT = '€'.repeat(2000);
const ATTACKERS = 400;
/** Redis used_memory (dataset, output buffers and all) during the flood; measured 10-15 MiB. */
const REDIS_MEMORY_BOUND = 32 * MiB;
/** How long the attack runs (the pod replays at HISTORY_READ_BYTES_PER_S, so not all finish). */
const ATTACK_MS = 10_000;

interface Peak {
  used: number;
  clients: number;
}

/** Samples INFO memory until stopped; keeps the peaks. */
function sampleRedis(admin: Redis): { stop(): Promise<Peak> } {
  const peak: Peak = { used: 0, clients: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const info = await admin.info('memory');
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
      peak.used = Math.max(peak.used, field('used_memory'));
      peak.clients = Math.max(peak.clients, field('mem_clients_normal'));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** The attack in its own process, so generating it does not slow the pod or the honest user. */
function startAttack(order: AttackOrder): {
  burst: Promise<void>;
  done: Promise<AttackOutcome[]>;
  stop(): void;
  kill(): void;
} {
  const child = fork(fileURLToPath(new URL('./history-attack.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let burst: () => void = () => {};
  const bursting = new Promise<void>((r) => {
    burst = r;
  });
  const done = new Promise<AttackOutcome[]>((resolve, reject) => {
    child.on('message', (m: { type: string; outcomes?: AttackOutcome[] }) => {
      if (m.type === 'burst') burst();
      if (m.type === 'done') resolve(m.outcomes ?? []);
    });
    child.once('exit', (code) => reject(new Error(`attack process exited ${code}`)));
  });
  done.catch(() => {});
  child.send({ cmd: 'start', order });
  return { burst: bursting, done, stop: () => child.send({ cmd: 'stop' }), kill: () => child.kill() };
}

describe('history-read flood', () => {
  const redis = new TestRedis();
  let admin: Redis;
  let srv: ServerProcess;
  let honest: HonestProcess;
  let ids: string[] = [];

  beforeAll(async () => {
    await redis.start();
    admin = redis.client();
    srv = await spawnServer({
      LOG_LEVEL: 'warn',
      BROKER: 'redis',
      REDIS_URL: redis.url,
      HISTORY_MAXLEN: String(MESSAGES),
      // Every attacker uses one token; the per-user cap is another test's.
      MAX_CONNECTIONS_PER_USER: String(ATTACKERS + 10),
      // Seeding only: the seeder sends its 1,000 messages as fast as the store takes them.
      RATE_LIMIT_PER_S: '100000',
      RATE_LIMIT_BURST: '100000',
      USER_RATE_LIMIT_PER_S: '100000',
      USER_RATE_LIMIT_BURST: '100000',
    });
    const seeder = await TestClient.connect(srv.wsUrl, await srv.token('archivist'));
    await seeder.join('archive');
    const acks = Array.from({ length: MESSAGES }, () => seeder.say('archive', TEXT, randomId()));
    ids = (await Promise.all(acks)).map((a) => a.id);
    await seeder.close();
    honest = await HonestProcess.start(srv.wsUrl, await srv.token('honest'));
  }, 60_000);

  afterAll(async () => {
    await honest?.close();
    expect(await srv?.stop()).toBe(0);
    admin?.disconnect();
    await redis.destroy();
  }, 30_000);

  it('keeps Redis memory bounded and the honest user fast; attackers get correct history or busy', async () => {
    const baseline = Number(/^used_memory:(\d+)/m.exec(await admin.info('memory'))?.[1]);
    const attack = startAttack({
      wsUrl: srv.wsUrl,
      token: await srv.token('mallory'),
      room: 'archive',
      sockets: ATTACKERS,
      since: ids[0] as string,
      lastId: ids.at(-1) as string,
      expected: MESSAGES - 1,
    });
    try {
      await within(attack.burst, 20_000, 'attack sockets open');
      const redisPeak = sampleRedis(admin);
      const probe = honest.probe();
      // The attack runs ATTACK_MS (or until every attacker has its history).
      const window = setTimeout(() => attack.stop(), ATTACK_MS);
      const outcomes = await within(attack.done, ATTACK_MS + 10_000, 'attack');
      clearTimeout(window);
      const rtt = await probe.stop();
      const peak = await redisPeak.stop();
      const count = (r: AttackOutcome['result']) => outcomes.filter((o) => o.result === r).length;
      const busy = outcomes.reduce((n, o) => n + (o.refusals.busy ?? 0), 0);
      const done = outcomes.filter((o) => o.result === 'complete').map((o) => o.ms);
      const received = outcomes.reduce((n, o) => n + o.received, 0);
      console.log(
        `history flood (${ATTACKERS} joins, ${MESSAGES} x 6 KB): redis used_memory peak ${(peak.used / MiB).toFixed(1)} MiB ` +
          `(baseline ${(baseline / MiB).toFixed(1)}), client buffers peak ${(peak.clients / MiB).toFixed(1)} MiB; ` +
          `server rss ${((await srv.rss()) / MiB).toFixed(0)} MiB; in ${ATTACK_MS} ms: ${count('complete')} complete ` +
          `(first ${Math.min(...done)} ms), ${count('partial')} partial, ${received} messages replayed, ${busy} busy; ` +
          `${rtt}, p50 ${rtt.median.toFixed(1)} ms`,
      );
      expect(peak.used).toBeLessThan(REDIS_MEMORY_BOUND);
      expect(rtt.p90).toBeLessThan(HONEST_RTT_BOUND_MS);
      // Whatever an attacker got is exactly the history, in order; nobody was cut off.
      expect(outcomes.filter((o) => o.result === 'wrong' || o.result === 'closed').slice(0, 3)).toEqual([]);
      expect(count('complete')).toBeGreaterThan(0);
    } finally {
      attack.kill();
    }
    // The flood over, a full resume is served at once.
    const resumer = await TestClient.connect(srv.wsUrl, await srv.token('resumer'));
    const t0 = performance.now();
    await resumer.join('archive', ids[0]);
    await resumer.next('msg', (m) => m.id === ids.at(-1), 5000);
    const got = [
      ...resumer.frames.flatMap((f) => (f.type === 'joined' ? f.messages.map((m) => m.id) : [])),
      ...resumer.messages('archive').map((m) => m.id),
    ];
    expect(got).toEqual(ids.slice(1));
    console.log(
      `after the flood: full resume of ${got.length} messages in ${(performance.now() - t0).toFixed(0)} ms`,
    );
    await resumer.close();
  }, 60_000);
});
