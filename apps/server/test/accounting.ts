import type { ServerFrame } from '@chat/protocol';
import type { Cluster, Redis } from 'ioredis';
import { type RunningApp, TestClient } from './harness.js';

/**
 * Ground-truth accounting for fault tests: what each member was handed, replayed against the
 * room's Redis Stream (not against anything the server under test says about itself).
 */

/**
 * The ids a client was handed for a room, in the order it would show them: a `joined` without
 * `since` (or a `resync`) replaces the view, a resumed `joined` and live `msg` frames append.
 */
export function view(
  frames: readonly ServerFrame[],
  room: string,
): { ids: string[]; resyncs: number; chainBreaks: number } {
  let ids: string[] = [];
  let resyncs = 0;
  /** Live messages whose `prev` is not the id before them: a hole the client would have to repair. */
  let chainBreaks = 0;
  for (const f of frames) {
    if (!('room' in f) || f.room !== room) continue;
    if (f.type === 'msg') {
      if (f.prev !== (ids.at(-1) ?? '0-0')) chainBreaks++;
      ids.push(f.id);
    } else if (f.type === 'joined')
      ids = f.resumed ? [...ids, ...f.messages.map((m) => m.id)] : f.messages.map((m) => m.id);
    else if (f.type === 'resync') {
      resyncs++;
      ids = f.messages.map((m) => m.id);
    }
  }
  return { ids, resyncs, chainBreaks };
}

/** The sum of a counter over every series and pod (the pods' own registries). */
export async function metricSum(name: string, pods: readonly RunningApp[]): Promise<number> {
  let total = 0;
  for (const pod of pods)
    for (const line of (await pod.app.metrics.registry.metrics()).split('\n'))
      if (line.startsWith(`${name}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

/** Every id in the room's stream, oldest first. */
export async function streamIds(redis: Redis | Cluster, room: string, prefix = 'chat:'): Promise<string[]> {
  const rows = await redis.xrange(`${prefix}{${room}}:s`, '-', '+');
  return rows.map(([id]) => id);
}

export interface Tally {
  expected: number;
  checked: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
}

/** Compares one member's view with the stream from `fromId` (exclusive) on. */
export function compare(ids: readonly string[], stream: readonly string[], fromIndex = 0): Tally {
  const expected = stream.slice(fromIndex);
  const seen = new Set<string>();
  let duplicates = 0;
  for (const id of ids) {
    if (seen.has(id)) duplicates++;
    seen.add(id);
  }
  const lost = expected.filter((id) => !seen.has(id)).length;
  const unique = ids.filter((id, i) => ids.indexOf(id) === i);
  let outOfOrder = 0;
  for (let i = 1; i < unique.length; i++)
    if ((unique[i] as string) <= (unique[i - 1] as string)) outOfOrder++;
  return { expected: expected.length, checked: ids.length, lost, duplicates, outOfOrder };
}

export function sum(tallies: Tally[]): Tally {
  return tallies.reduce(
    (a, t) => ({
      expected: a.expected + t.expected,
      checked: a.checked + t.checked,
      lost: a.lost + t.lost,
      duplicates: a.duplicates + t.duplicates,
      outOfOrder: a.outOfOrder + t.outOfOrder,
    }),
    { expected: 0, checked: 0, lost: 0, duplicates: 0, outOfOrder: 0 },
  );
}

/**
 * A writer that sends one message at a time to a room and records every acked id, until
 * stopped. Errors (`unavailable`, timeouts) are resent with the same clientMsgId, as the real
 * client does; nothing is counted until acked.
 */
export class Writer {
  readonly acked: string[] = [];
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: TestClient,
    private readonly room: string,
  ) {}

  start(): this {
    this.done = (async () => {
      let n = 0;
      while (!this.stopped && this.client.ws.readyState === 1) {
        const clientMsgId = `w${Math.random().toString(36).slice(2, 10)}${n++}`;
        while (this.client.ws.readyState === 1) {
          const from = this.client.frames.length;
          this.client.send({ type: 'send', room: this.room, clientMsgId, text: `m${n}` });
          const reply = await this.reply(clientMsgId, from);
          if (reply?.type === 'ack') {
            this.acked.push(reply.id);
            break;
          }
          await new Promise((r) => setTimeout(r, reply?.type === 'error' ? (reply.retryAfterMs ?? 100) : 0));
        }
      }
    })();
    return this;
  }

  /** The ack or error answering `clientMsgId`, or undefined when the socket closed first. */
  private reply(clientMsgId: string, from: number): Promise<ServerFrame | undefined> {
    const { frames, ws } = this.client;
    const answer = (): ServerFrame | undefined =>
      frames
        .slice(from)
        .find(
          (f) =>
            (f.type === 'ack' && f.clientMsgId === clientMsgId) ||
            (f.type === 'error' && f.ref === clientMsgId),
        );
    return new Promise((resolve) => {
      const check = () => {
        const f = answer();
        if (f === undefined && ws.readyState === 1) return;
        ws.off('message', onMessage);
        ws.off('close', check);
        resolve(f);
      };
      // The client records a frame in its own 'message' listener, registered before this one.
      const onMessage = () => check();
      ws.on('message', onMessage);
      ws.on('close', check);
      check();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** Resolves after a random delay in [min, max) ms: fault moments the test does not choose. */
export function jitter(minMs: number, maxMs: number): Promise<void> {
  return new Promise((r) => setTimeout(r, minMs + Math.random() * (maxMs - minMs)));
}

export type { TestClient };

/** The first frame from index `from` on that matches, or undefined when the socket closes first. */
export function frameAfter(
  client: TestClient,
  from: number,
  match: (f: ServerFrame) => boolean,
): Promise<ServerFrame | undefined> {
  const { frames, ws } = client;
  return new Promise((resolve) => {
    const check = () => {
      const f = frames.slice(from).find(match);
      if (f === undefined && ws.readyState === 1) return;
      ws.off('message', check);
      ws.off('close', check);
      resolve(f);
    };
    ws.on('message', check);
    ws.on('close', check);
    check();
  });
}

/**
 * A member that stays in one room across pod restarts, as the real client does: when its
 * socket closes it connects to another pod and joins with `since` = the last id it has,
 * retrying a join refused while Redis is down. `frames` spans every connection, in order.
 */
export class RoamingMember {
  private readonly connections: TestClient[] = [];
  private stopped = false;
  private done: Promise<void> = Promise.resolve();
  reconnects = 0;

  constructor(
    private readonly room: string,
    private readonly pick: () => { wsUrl: string; token: string },
  ) {}

  get frames(): ServerFrame[] {
    return this.connections.flatMap((c) => c.frames);
  }

  async start(): Promise<this> {
    await this.connectAndJoin();
    this.done = this.loop();
    return this;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const current = this.connections.at(-1) as TestClient;
      await current.closed;
      if (this.stopped) return;
      this.reconnects++;
      await this.connectAndJoin();
    }
  }

  private async connectAndJoin(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const target = this.pick();
      let client: TestClient;
      try {
        client = await TestClient.connect(target.wsUrl, target.token, { timeoutMs: 3000 });
      } catch {
        await jitter(50, 150);
        continue;
      }
      this.connections.push(client);
      for (;;) {
        const since = view(this.frames, this.room).ids.at(-1);
        const from = client.frames.length;
        client.send(
          since === undefined ? { type: 'join', room: this.room } : { type: 'join', room: this.room, since },
        );
        const reply = await frameAfter(
          client,
          from,
          (f) =>
            ((f.type === 'joined' || f.type === 'resync') && f.room === this.room) ||
            (f.type === 'error' && f.ref === this.room),
        );
        if (reply === undefined) break; // closed while joining: connect again
        if (reply.type !== 'error') return;
        await new Promise((r) => setTimeout(r, reply.retryAfterMs ?? 200));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.connections.at(-1)?.close();
    await this.done;
  }
}
