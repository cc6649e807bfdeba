/** Publishing: the open-loop steps (latency, fan-out) and the drain storm's background traffic. */
import type { BenchClient } from './client-base.js';
import type { BackgroundResult } from './protocol.js';
import { nowUs } from './protocol.js';
import { currentBackground, groups, membersOf, roomName, setBackground, tagStats } from './state.js';

const workerId = Number(process.env.BENCH_WORKER_ID ?? '0');
let seq = 0;

interface Publisher {
  client: BenchClient;
  room: string;
  members: number;
  credit: number;
}

function publishers(): Publisher[] {
  const out: Publisher[] = [];
  for (const { spec, clients } of groups.values()) {
    if (!spec.publishers || spec.rooms === 0) continue;
    const pods = spec.urls.length;
    for (const client of clients) {
      const r = client.index % spec.rooms;
      const j = Math.floor(client.index / spec.rooms);
      const members = membersOf(spec, r);
      if (j !== r % Math.min(pods, members)) continue;
      out.push({ client, room: roomName(spec, r), members, credit: Math.random() });
    }
  }
  return out;
}

function makeText(tag: number, pad: string): string {
  return `${tag}|${Math.round(nowUs())}|${pad}`;
}

function padOf(): string {
  const g = groups.values().next().value;
  return 'x'.repeat(g?.spec.textPad ?? 64);
}

function sendOne(p: Publisher, tag: number, pad: string): void {
  const clientMsgId = `msg${tag}_${workerId}_${seq++}`;
  const s = tagStats(tag);
  s.sent++;
  s.expected += p.members;
  p.client.send(p.room, clientMsgId, makeText(tag, pad));
}

const TICK_MS = 5;

/** Open loop: every publisher sends at `rate` per second, whether or not the system keeps up. */
export function publish(
  tag: number,
  rate: number,
  warmupMs: number,
  durationMs: number,
): Promise<{ sent: number }> {
  const pubs = publishers();
  const pad = padOf();
  return new Promise((resolve) => {
    const start = performance.now();
    let last = start;
    let sent = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      const dt = (now - last) / 1000;
      last = now;
      const elapsed = now - start;
      if (elapsed >= warmupMs + durationMs) {
        clearInterval(timer);
        resolve({ sent });
        return;
      }
      const t = elapsed < warmupMs ? 0 : tag;
      for (const p of pubs) {
        p.credit += rate * dt;
        while (p.credit >= 1) {
          p.credit -= 1;
          if (p.client.state !== 'open') continue;
          sendOne(p, t, pad);
          if (t > 0) sent++;
        }
      }
    }, TICK_MS);
  });
}

export function startBackground(tag: number, rate: number): void {
  const pubs = publishers();
  const pad = padOf();
  let last = performance.now();
  const bg = {
    tag,
    sent: 0,
    timer: setInterval(() => {
      const now = performance.now();
      const dt = (now - last) / 1000;
      last = now;
      for (const p of pubs) {
        p.credit += rate * dt;
        while (p.credit >= 1) {
          p.credit -= 1;
          // Composed whether or not the client is connected: a down client queues it.
          sendOne(p, tag, pad);
          bg.sent++;
        }
      }
    }, 20),
  };
  setBackground(bg);
}

export async function stopBackground(waitAcksMs: number): Promise<BackgroundResult> {
  const bg = currentBackground();
  if (!bg) return { sent: 0, acked: 0, unacked: 0, resent: 0 };
  clearInterval(bg.timer);
  const all = [...groups.values()].flatMap((g) => g.clients);
  const deadline = performance.now() + waitAcksMs;
  const unacked = () => all.reduce((n, c) => n + c.pending.size, 0);
  while (unacked() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return {
    sent: bg.sent,
    acked: tagStats(bg.tag).acked,
    unacked: unacked(),
    resent: all.reduce((n, c) => n + c.resent, 0),
  };
}
