import type { RedisClusterSet } from '@chat/testkit';
import { Cluster } from 'ioredis';
import { compare, streamIds, type Tally, view } from './accounting.js';
import { type RunningApp, startApp, TestClient, until } from './harness.js';
import { type Acked, sendUntilAcked } from './reliable-sender.js';

/**
 * Chat traffic on a Redis Cluster: 3 pods (app instances) on the cluster, rooms placed on
 * chosen shards, in every room one member per pod and one sender, each sender sending one
 * message at a time and resending until acked (as the real client does). The accounting is
 * against the rooms' streams read from the cluster (XRANGE), never against what the server says.
 */

export async function startPods(
  cluster: RedisClusterSet,
  env: Record<string, string> = {},
  count = 3,
): Promise<RunningApp[]> {
  const pods = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      startApp({
        REDIS_CLUSTER_NODES: cluster.seedList,
        NODE_ID: `pod-${i}`,
        LIVE_CHECK_MS: '500',
        HISTORY_MAXLEN: '100000',
        RATE_LIMIT_PER_S: '10000',
        RATE_LIMIT_BURST: '10000',
        USER_RATE_LIMIT_PER_S: '10000',
        USER_RATE_LIMIT_BURST: '10000',
        ...env,
      }),
    ),
  );
  for (const pod of pods)
    await until(async () => (await pod.app.inject('/readyz')).statusCode === 200, 'pod ready');
  return pods;
}

/** `perShard` room names for every primary, with the port of the primary that serves each. */
export async function roomsOnEveryShard(
  cluster: RedisClusterSet,
  perShard: number,
  tag: string,
): Promise<{ room: string; port: number; slot: number }[]> {
  const primaries = (await cluster.topology()).filter((n) => n.role === 'primary' && !n.failed);
  const owner = new Map<number, number>();
  for (const p of primaries) for (const s of p.slots) owner.set(s, p.port);
  const out: { room: string; port: number; slot: number }[] = [];
  const count = new Map<number, number>();
  for (let i = 0; out.length < perShard * primaries.length; i++) {
    const room = `${tag}-${i}`;
    const slot = await cluster.slotOf(`chat:{${room}}:s`);
    const port = owner.get(slot) as number;
    if ((count.get(port) ?? 0) >= perShard) continue;
    count.set(port, (count.get(port) ?? 0) + 1);
    out.push({ room, port, slot });
  }
  return out;
}

export interface RoomTraffic {
  room: string;
  members: TestClient[];
  sender: TestClient;
  acked: Acked[];
  /** Error frames the sender got (unavailable, outcome_unknown), with when. */
  errors: { at: number; code: string }[];
}

/** Members on every pod and a sender; `run` sends until `stop()` says so. */
export class Traffic {
  readonly rooms: RoomTraffic[] = [];
  private stopAt = Number.POSITIVE_INFINITY;
  private loops: Promise<void>[] = [];

  static async open(pods: RunningApp[], rooms: readonly string[]): Promise<Traffic> {
    const t = new Traffic();
    for (const [i, room] of rooms.entries()) {
      const members: TestClient[] = [];
      for (const [j, pod] of pods.entries()) {
        const m = await TestClient.connect(pod.wsUrl, pod.token(`m-${i}-${j}`));
        await m.join(room);
        members.push(m);
      }
      const pod = pods[i % pods.length] as RunningApp;
      const sender = await TestClient.connect(pod.wsUrl, pod.token(`s-${i}`));
      await sender.join(room);
      t.rooms.push({ room, members, sender, acked: [], errors: [] });
    }
    return t;
  }

  start(): this {
    this.loops = this.rooms.map(async (r) => {
      r.sender.ws.on('message', () => {
        const f = r.sender.frames.at(-1);
        if (f?.type === 'error') r.errors.push({ at: Date.now(), code: f.code });
      });
      for (let n = 0; Date.now() < this.stopAt; n++) {
        const a = await sendUntilAcked(r.sender, r.room, `${r.room}-${n}`, {
          answerTimeoutMs: 4000,
          stop: () => Date.now() >= this.stopAt,
        });
        if (a) r.acked.push(a);
      }
    });
    return this;
  }

  acks(rooms: readonly RoomTraffic[] = this.rooms): number {
    return rooms.reduce((n, r) => n + r.acked.length, 0);
  }

  async stop(): Promise<void> {
    this.stopAt = Date.now();
    await Promise.all(this.loops);
  }

  async close(): Promise<void> {
    await Promise.all(this.rooms.flatMap((r) => [...r.members, r.sender]).map((c) => c.close()));
  }
}

export interface RoomReport extends Tally {
  room: string;
  acked: number;
  /** Acked ids missing from the stream (lost by a failover). */
  ackedLost: number;
  /** clientMsgIds stored more than once. */
  storedTwice: number;
  resyncs: number;
  chainBreaks: number;
}

/**
 * Waits until every member holds the whole stream (or stops making progress for `settleMs`),
 * then tallies each room: every member's view against the stream, and the acks against it.
 */
export async function account(
  cluster: RedisClusterSet,
  traffic: Traffic,
  settleMs = 8000,
): Promise<RoomReport[]> {
  const redis = new Cluster(cluster.nodes);
  try {
    const reports: RoomReport[] = [];
    for (const r of traffic.rooms) {
      const stream = await streamIds(redis, r.room);
      const rows = await redis.xrange(`chat:{${r.room}}:s`, '-', '+');
      const keys = rows.map(([, f]) => f[f.indexOf('k') + 1]);
      const complete = () =>
        r.members.every((m) => {
          const ids = new Set(view(m.frames, r.room).ids);
          return stream.every((id) => ids.has(id));
        });
      await until(complete, `every member of ${r.room} holding its stream`, settleMs).catch(() => {});
      const tallies = r.members.map((m) => {
        const v = view(m.frames, r.room);
        return { ...compare(v.ids, stream), resyncs: v.resyncs, chainBreaks: v.chainBreaks };
      });
      const stored = new Set(stream);
      reports.push({
        room: r.room,
        acked: r.acked.length,
        ackedLost: r.acked.filter((a) => !stored.has(a.id)).length,
        storedTwice: keys.length - new Set(keys).size,
        expected: tallies.reduce((n, t) => n + t.expected, 0),
        checked: tallies.reduce((n, t) => n + t.checked, 0),
        lost: tallies.reduce((n, t) => n + t.lost, 0),
        duplicates: tallies.reduce((n, t) => n + t.duplicates, 0),
        outOfOrder: tallies.reduce((n, t) => n + t.outOfOrder, 0),
        resyncs: tallies.reduce((n, t) => n + t.resyncs, 0),
        chainBreaks: tallies.reduce((n, t) => n + t.chainBreaks, 0),
      });
    }
    return reports;
  } finally {
    redis.disconnect();
  }
}
