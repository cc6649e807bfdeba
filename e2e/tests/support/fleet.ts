import { ChatClient, type SendResult, type WebSocketConstructor } from '@chat/client';
import type { Cluster } from '@chat/cluster';
import { WS_PATH } from '@chat/protocol';
import { fetchToken } from '@chat/testkit';
import WebSocket from 'ws';

/** One Node client and everything it saw, for loss / duplicate / reconnect accounting. */
export interface Member {
  name: string;
  room: string;
  client: ChatClient;
  /** How many times each message id was handed to the app (1 = exactly once). */
  seen: Map<string, number>;
  /** Arrival order of ids, to compare orders between members. */
  order: string[];
  /** Pods this member was welcomed by, in order. */
  nodes: string[];
  /** Durations from losing the socket to being open again, ms. */
  reconnects: number[];
  /** Close codes behind each lost connection (1006 = died without a close frame). */
  closeCodes: number[];
  acked: SendResult[];
  failed: number;
}

/** Starts `count` reconnecting clients through the balancer, spread round-robin over `rooms`. */
export async function startFleet(baseUrl: string, count: number, rooms: string[]): Promise<Member[]> {
  const wsUrl = new URL(WS_PATH, baseUrl.replace(/^http/, 'ws')).toString();
  const members = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = `node-${i}`;
      const room = rooms[i % rooms.length] as string;
      let token = await fetchToken(baseUrl, name);
      const client = new ChatClient({
        url: wsUrl,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        getToken: async ({ forceRefresh }) => {
          if (forceRefresh) token = await fetchToken(baseUrl, name);
          return token;
        },
        history: 0,
        dedupeWindow: 100_000,
        backoff: { baseMs: 200, capMs: 3000 },
      });
      const m: Member = {
        name,
        room,
        client,
        seen: new Map(),
        order: [],
        nodes: [],
        reconnects: [],
        closeCodes: [],
        acked: [],
        failed: 0,
      };
      let lostAt: number | undefined;
      client.on('message', (msg) => {
        m.seen.set(msg.id, (m.seen.get(msg.id) ?? 0) + 1);
        m.order.push(msg.id);
      });
      client.on('welcome', (w) => m.nodes.push(w.node));
      client.on('state', (s) => {
        if (s.previous === 'open' && s.state !== 'open') {
          lostAt = performance.now();
          if (s.code !== undefined) m.closeCodes.push(s.code);
        }
        if (s.state === 'open' && lostAt !== undefined) {
          m.reconnects.push(performance.now() - lostAt);
          lostAt = undefined;
        }
      });
      client.connect();
      await client.join(room);
      return m;
    }),
  );
  return members;
}

/** Members send in turn (each to its room) so the fleet offers `perSecond` messages per second in total. */
export function sendLoad(members: Member[], perSecond: number): { stop(): Promise<void> } {
  let i = 0;
  const inflight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const m = members[i++ % members.length] as Member;
    const p = m.client
      .send(m.room, `${m.name} #${i}`)
      .then((r) => {
        m.acked.push(r);
      })
      .catch((err: unknown) => {
        m.failed++;
        if (process.env.DEBUG_FLEET) console.log('send failed', err);
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

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Loss (an acked message a room member never got) and duplicates across the fleet. */
export function account(members: Member[]) {
  const ackedByRoom = new Map<string, string[]>();
  for (const m of members) {
    const list = ackedByRoom.get(m.room) ?? [];
    for (const a of m.acked) list.push(a.id);
    ackedByRoom.set(m.room, list);
  }
  let lost = 0;
  let duplicates = 0;
  for (const m of members) {
    for (const id of ackedByRoom.get(m.room) ?? []) if (!m.seen.has(id)) lost++;
    for (const n of m.seen.values()) if (n > 1) duplicates += n - 1;
  }
  const acked = [...ackedByRoom.values()].reduce((n, l) => n + l.length, 0);
  return { acked, lost, duplicates };
}

export interface RollFigures {
  clients: number;
  rooms: number;
  acked: number;
  lost: number;
  duplicates: number;
  failedSends: number;
  reconnected: number;
  reconnectP50Ms: number;
  reconnectP99Ms: number;
  reconnectMaxMs: number;
  rollMs: number;
}

export function figures(members: Member[], rollMs: number): RollFigures {
  const { acked, lost, duplicates } = account(members);
  const reconnects = members.flatMap((m) => m.reconnects);
  return {
    clients: members.length,
    rooms: new Set(members.map((m) => m.room)).size,
    acked,
    lost,
    duplicates,
    failedSends: members.reduce((n, m) => n + m.failed, 0),
    reconnected: members.filter((m) => m.reconnects.length > 0).length,
    reconnectP50Ms: Math.round(percentile(reconnects, 50)),
    reconnectP99Ms: Math.round(percentile(reconnects, 99)),
    reconnectMaxMs: Math.round(Math.max(...reconnects)),
    rollMs,
  };
}

/** How many of the cluster's pods report their broker as `state` (the body of their /readyz). */
export async function podsWithBroker(cluster: Cluster, state: 'ok' | 'unavailable'): Promise<number> {
  const said = await Promise.all(
    cluster.pods().map(async (p) => {
      try {
        const res = await fetch(`http://127.0.0.1:${p.port}/readyz`);
        return ((await res.json()) as { broker?: string }).broker;
      } catch {
        return undefined;
      }
    }),
  );
  return said.filter((s) => s === state).length;
}
