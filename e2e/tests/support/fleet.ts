import { ChatClient, type SendResult, type WebSocketConstructor } from '@chat/client';
import { TOKEN_PATH, type TokenResponse, WS_PATH } from '@chat/protocol';
import WebSocket from 'ws';

/** One Node client and everything it saw, for loss / duplicate / reconnect accounting. */
export interface Member {
  name: string;
  client: ChatClient;
  /** How many times each message id was handed to the app (1 = exactly once). */
  seen: Map<string, number>;
  /** Arrival order of ids, to compare orders between members. */
  order: string[];
  /** Pods this member was welcomed by, in order. */
  nodes: string[];
  /** Durations from losing the socket to being open again, ms. */
  reconnects: number[];
  acked: SendResult[];
  failed: number;
}

export async function fetchToken(baseUrl: string, name: string): Promise<string> {
  const res = await fetch(new URL(TOKEN_PATH, baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (!res.ok) throw new Error(`token request answered ${res.status}`);
  return ((await res.json()) as TokenResponse).token;
}

/** Starts `count` reconnecting clients through the balancer, all joined to `room`. */
export async function startFleet(baseUrl: string, count: number, room: string): Promise<Member[]> {
  const wsUrl = new URL(WS_PATH, baseUrl.replace(/^http/, 'ws')).toString();
  const members = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const name = `node-${i}`;
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
        client,
        seen: new Map(),
        order: [],
        nodes: [],
        reconnects: [],
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
        if (s.previous === 'open' && s.state !== 'open') lostAt = performance.now();
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

/** Each member sends in turn so that the fleet offers `perSecond` messages per second in total. */
export function sendLoad(members: Member[], room: string, perSecond: number): { stop(): Promise<void> } {
  let i = 0;
  const inflight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const m = members[i++ % members.length] as Member;
    const p = m.client
      .send(room, `${m.name} #${i}`)
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

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Loss and duplicates of every acked message across the fleet. */
export function account(members: Member[]) {
  const acked = members.flatMap((m) => m.acked.map((a) => a.id));
  let lost = 0;
  let duplicates = 0;
  for (const m of members) {
    for (const id of acked) if (!m.seen.has(id)) lost++;
    for (const n of m.seen.values()) if (n > 1) duplicates += n - 1;
  }
  return { acked: acked.length, lost, duplicates };
}
