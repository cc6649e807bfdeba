import { ChatClient, type SendResult, type WebSocketConstructor } from '@chat/client';
import { WS_PATH } from '@chat/protocol';
import { fetchToken } from '@chat/testkit';
import WebSocket from 'ws';

/**
 * Reconnecting clients (packages/client, the app's own) through the balancer, with what each
 * saw, for the autoscaling tests and the `--autoscale` demo: loss, duplicates, reconnects.
 */
export interface FleetMember {
  name: string;
  room: string;
  client: ChatClient;
  /** Message id -> times handed to the app (1 = exactly once). */
  seen: Map<string, number>;
  /** Pods that welcomed this client, in order (length - 1 = reconnects). */
  nodes: string[];
  /** Close codes behind each lost connection. */
  closeCodes: number[];
  acked: SendResult[];
  failed: number;
  /** When its first join completed (epoch ms): what was stored before is not its to receive live. */
  joinedAt: number;
}

export interface FleetOptions {
  rooms?: string[];
  /** Clients started at once (default 50). */
  concurrency?: number;
  /** Name prefix (each client is its own user). */
  prefix?: string;
}

export class Fleet {
  readonly members: FleetMember[] = [];
  private seq = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly opts: FleetOptions = {},
  ) {}

  /** Adds `count` clients; resolves when each has joined its room. */
  async grow(count: number): Promise<void> {
    const rooms = this.opts.rooms ?? ['lobby'];
    const batch = this.opts.concurrency ?? 50;
    for (let done = 0; done < count; done += batch) {
      const n = Math.min(batch, count - done);
      const added = await Promise.all(
        Array.from({ length: n }, () => this.add(rooms[this.seq % rooms.length] as string)),
      );
      this.members.push(...added);
    }
  }

  /** Closes `count` clients (every `members.length / count`-th, so every pod loses some). */
  shrink(count: number): FleetMember[] {
    const gone: FleetMember[] = [];
    const step = this.members.length / Math.max(1, count);
    for (let i = count - 1; i >= 0; i--) {
      const [m] = this.members.splice(Math.floor(i * step), 1);
      if (!m) continue;
      m.client.close();
      gone.push(m);
    }
    return gone;
  }

  /** Members send in turn so the fleet offers `perSecond` messages per second. */
  sendLoad(perSecond: number): { stop(): Promise<void> } {
    let i = 0;
    const inflight = new Set<Promise<void>>();
    const timer = setInterval(() => {
      const m = this.members[i++ % Math.max(1, this.members.length)];
      if (!m) return;
      const p = m.client
        .send(m.room, `${m.name} #${i}`)
        .then((r) => {
          m.acked.push(r);
        })
        .catch(() => {
          m.failed++;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }, 1000 / perSecond);
    return {
      async stop() {
        clearInterval(timer);
        await Promise.all(inflight);
      },
    };
  }

  /** Clients that are open right now. */
  get open(): number {
    return this.members.filter((m) => m.client.state === 'open').length;
  }

  close(): void {
    for (const m of this.members) m.client.close();
  }

  private async add(room: string): Promise<FleetMember> {
    const name = `${this.opts.prefix ?? 'load'}-${++this.seq}`;
    let token = await tokenWithRetry(this.baseUrl, name);
    const client = new ChatClient({
      url: new URL(WS_PATH, this.baseUrl.replace(/^http/, 'ws')).toString(),
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      getToken: async ({ forceRefresh }) => {
        if (forceRefresh) token = await tokenWithRetry(this.baseUrl, name);
        return token;
      },
      history: 0,
      dedupeWindow: 100_000,
      backoff: { baseMs: 200, capMs: 3000 },
    });
    const m: FleetMember = {
      name,
      room,
      client,
      seen: new Map(),
      nodes: [],
      closeCodes: [],
      acked: [],
      failed: 0,
      joinedAt: Number.POSITIVE_INFINITY,
    };
    client.on('message', (msg) => m.seen.set(msg.id, (m.seen.get(msg.id) ?? 0) + 1));
    client.on('welcome', (w) => m.nodes.push(w.node));
    client.on('state', (s) => {
      if (s.previous === 'open' && s.state !== 'open' && s.code !== undefined) m.closeCodes.push(s.code);
    });
    client.connect();
    await client.join(room);
    m.joinedAt = Date.now();
    return m;
  }
}

/** A reused keep-alive connection can meet the balancer closing it (ECONNRESET): try again. */
async function tokenWithRetry(baseUrl: string, name: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchToken(baseUrl, name);
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/**
 * What the members saw against what was acked: `lost` = an acked message a member of its
 * room never got, counting only messages stored after the member had joined (a stream id
 * starts with its Redis-clock milliseconds; a fresh join shows only the latest page of what
 * came before); `duplicates` = a message handed over twice.
 */
export function deliveryReport(members: readonly FleetMember[]) {
  const ackedByRoom = new Map<string, Set<string>>();
  for (const m of members) {
    const set = ackedByRoom.get(m.room) ?? new Set<string>();
    for (const a of m.acked) set.add(a.id);
    ackedByRoom.set(m.room, set);
  }
  let lost = 0;
  let duplicates = 0;
  for (const m of members) {
    for (const id of ackedByRoom.get(m.room) ?? [])
      if (!m.seen.has(id) && Number(id.split('-')[0]) > m.joinedAt) lost++;
    for (const n of m.seen.values()) if (n > 1) duplicates += n - 1;
  }
  const reconnects = members.map((m) => Math.max(0, m.nodes.length - 1));
  return {
    acked: [...ackedByRoom.values()].reduce((n, s) => n + s.size, 0),
    lost,
    duplicates,
    failedSends: members.reduce((n, m) => n + m.failed, 0),
    reconnectsPerClient: reconnects.reduce((a, b) => a + b, 0) / Math.max(1, members.length),
    maxReconnects: Math.max(0, ...reconnects),
  };
}

export { checkAgainstStreams, streamEntries } from './streams.js';
