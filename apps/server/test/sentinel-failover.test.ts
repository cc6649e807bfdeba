import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareIds } from '@chat/protocol';
import { RedisSentinelSet } from '@chat/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningApp, startApp, TestClient, until } from './harness.js';
import { type Acked, sendUntilAcked } from './reliable-sender.js';

/**
 * A Sentinel-managed Redis (1 primary, 2 replicas, 3 sentinels) under chat traffic from 3 pods;
 * kill -9 of the primary. What each REDIS_ACK_REPLICAS setting guarantees is measured against
 * the new primary's stream: async replication may lose acked messages (0), WAIT must not (1).
 */
describe.each([0, 1])('Sentinel failover under traffic, REDIS_ACK_REPLICAS=%i', (ackReplicas) => {
  let set: RedisSentinelSet | undefined;
  let pods: RunningApp[] = [];
  let dir = '';
  afterEach(async () => {
    await Promise.all(pods.map((p) => p.close()));
    pods = [];
    await set?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('heals every member from the new primary; acked messages lost are counted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'chat-sentinel-'));
    set = new RedisSentinelSet({ dir, replicas: 2, password: 'sentinel-test-pass' });
    await set.start();
    const env = (node: string) => ({
      REDIS_SENTINELS: set?.sentinelList ?? '',
      REDIS_SENTINEL_NAME: set?.name ?? '',
      REDIS_PASSWORD: 'sentinel-test-pass',
      REDIS_ACK_REPLICAS: String(ackReplicas),
      REDIS_ACK_TIMEOUT_MS: '500',
      LIVE_CHECK_MS: '500',
      NODE_ID: node,
      RATE_LIMIT_PER_S: '10000',
      RATE_LIMIT_BURST: '10000',
      USER_RATE_LIMIT_PER_S: '10000',
      USER_RATE_LIMIT_BURST: '10000',
    });
    pods = await Promise.all(['pod-a', 'pod-b', 'pod-c'].map((n) => startApp(env(n))));
    for (const pod of pods)
      await until(async () => (await pod.app.inject('/readyz')).statusCode === 200, 'pod ready');

    const room = 'failover';
    const members: TestClient[] = [];
    const senders: TestClient[] = [];
    for (const [i, pod] of pods.entries()) {
      for (let j = 0; j < 2; j++) {
        const m = await TestClient.connect(pod.wsUrl, pod.token(`member-${i}-${j}`));
        await m.join(room);
        members.push(m);
      }
      const s = await TestClient.connect(pod.wsUrl, pod.token(`sender-${i}`));
      await s.join(room);
      senders.push(s);
    }

    const acked: Acked[] = [];
    let killedAt = 0;
    let stopAt = Number.POSITIVE_INFINITY;
    const loops = senders.map(async (s, i) => {
      for (let n = 0; Date.now() < stopAt; n++) {
        const a = await sendUntilAcked(s, room, `s${i}-${n}`, {
          answerTimeoutMs: 4000,
          stop: () => Date.now() >= stopAt,
        });
        if (a) acked.push(a);
      }
    });
    await until(() => acked.length >= 150, '150 acks', 20_000);
    const before = acked.length;
    const { now, ms: promotedMs } = await set.killPrimary();
    killedAt = Date.now() - promotedMs;
    // Recovered: a message sent after the kill is acked by the new primary.
    await until(
      () => acked.some((a) => a.sentAt > killedAt + promotedMs),
      'an ack after the promotion',
      30_000,
    );
    const firstAfter = acked
      .filter((a) => a.sentAt > killedAt)
      .reduce((m, a) => Math.min(m, a.ackedAt), Number.POSITIVE_INFINITY);
    const recoveredMs = firstAfter - killedAt;
    const ackedAtRecovery = acked.length;
    await until(() => acked.length >= ackedAtRecovery + 150, '150 acks after recovery', 20_000);
    stopAt = Date.now();
    await Promise.all(loops);

    const redis = new Redis({ port: now.port, host: '127.0.0.1', password: 'sentinel-test-pass' });
    const rows = await redis.xrange(`chat:{${room}}:s`, '-', '+');
    await redis.quit();
    const stored = new Set(rows.map(([id]) => id));
    const storedMsgIds = rows.map(
      ([, f]) => (JSON.parse(f[f.indexOf('b') + 1] ?? '{}') as { clientMsgId: string }).clientMsgId,
    );
    const lost = acked.filter((a) => !stored.has(a.id));
    const duplicates = storedMsgIds.length - new Set(storedMsgIds).size;

    // Every member ends up with the stream (healed from it), each message once. A member told
    // `resync` (its pod's last id was lost with the old primary, so no gap-free range exists)
    // has the stream from that page on: the frame tells the client about the gap.
    let resyncs = 0;
    let toldGaps = 0;
    for (const m of members) {
      const resync = m.frames.filter((f) => f.type === 'resync').at(-1);
      const from = resync?.type === 'resync' ? resync.messages[0]?.id : undefined;
      if (resync) resyncs++;
      const expected = [...stored].filter((id) => from === undefined || compareIds(id, from) >= 0);
      await expect
        .poll(() => expected.filter((id) => !m.messages(room).some((x) => x.id === id)), { timeout: 15_000 })
        .toEqual([]);
      toldGaps += [...stored].filter((id) => !m.messages(room).some((x) => x.id === id)).length;
      const ids = m.messages(room).map((x) => x.id);
      expect(new Set(ids).size, 'no message delivered twice').toBe(ids.length);
    }
    const phantoms = new Set(
      members.flatMap((m) => m.messages(room).map((x) => x.id)).filter((id) => !stored.has(id)),
    ).size;
    console.log(
      `REDIS_ACK_REPLICAS=${ackReplicas}: ${acked.length} acked (${before} before the kill), ` +
        `${lost.length} acked messages lost, ${duplicates} stored twice, ${phantoms} delivered but not in the new primary; ${resyncs}/${members.length} members resynced (${toldGaps} messages behind a resync); ` +
        `replica promoted ${promotedMs} ms after kill -9, first ack after it ${recoveredMs} ms after the kill`,
    );
    if (ackReplicas > 0) expect(lost).toEqual([]);
    expect(duplicates).toBe(0);
    for (const pod of pods)
      await until(async () => (await pod.app.inject('/readyz')).statusCode === 200, 'pod ready');
    await Promise.all([...members, ...senders].map((c) => c.close()));
  }, 90_000);
});
