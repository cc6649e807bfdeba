import { fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { handshakeProtocols } from '@chat/protocol';
import { clientMsgId, ProtocolClient } from '@chat/testkit';
import WebSocket from 'ws';
import type { AttackOrder, AttackOutcome } from '../test/history-attack.js';
import { MiB } from '../test/security-helpers.js';
import type { Srv } from './attack-server.js';

/** The attacks of issue 12 as measured by attack-figures.ts: each returns its outcome in words. */

const tick = () => new Promise((r) => setImmediate(r));
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw attacker socket: counts frames, never parses strictly (the old server's frames too). */
function attacker(
  wsUrl: string,
  token: string,
  headers: Record<string, string> = {},
): {
  ws: WebSocket;
  opened: Promise<string>;
  closed: Promise<number>;
  replies: () => number;
} {
  const ws = new WebSocket(wsUrl, handshakeProtocols(token), { headers, perMessageDeflate: false });
  let replies = 0;
  ws.on('message', (data) => {
    replies++;
    if (data.toString().startsWith('{"type":"ping"')) ws.send('{"type":"pong"}');
  });
  ws.on('error', () => {});
  const opened = new Promise<string>((r) => {
    ws.once('open', () => r('opened'));
    ws.once('unexpected-response', (_req, res) => {
      r(`HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.once('error', (e) => r(e.message));
  });
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  return { ws, opened, closed, replies: () => replies };
}

const count = (xs: (string | number)[]) => {
  const m = new Map<string, number>();
  for (const x of xs) m.set(String(x), (m.get(String(x)) ?? 0) + 1);
  return [...m].map(([k, n]) => `${n} x ${k}`).join(', ');
};

/** One socket (reconnecting after every close) flooding one kind of frame for `ms`. */
async function flood(srv: Srv, payload: string | Buffer, ms = 5000): Promise<string> {
  const binary = Buffer.isBuffer(payload);
  const codes: string[] = [];
  const replies: number[] = [];
  let sent = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const a = attacker(srv.wsUrl, await srv.token('mallory'));
    const opened = await a.opened;
    if (opened !== 'opened') {
      codes.push(`refused ${opened}`);
      continue;
    }
    while (a.ws.readyState === WebSocket.OPEN && performance.now() < end) {
      if (a.ws.bufferedAmount < MiB) {
        for (let i = 0; i < 200; i++) a.ws.send(payload, { binary });
        sent += 200;
        await tick();
      } else await sleep(2);
    }
    const code = await Promise.race([a.closed, sleep(1000).then(() => 0)]);
    codes.push(code === 0 ? 'still open at the end' : `closed ${code}`);
    replies.push(a.replies());
    a.ws.terminate();
  }
  return `${count(codes)}; ${sent} frames sent; replies per socket max ${Math.max(...replies)}`;
}

/** Sockets opened in waves of 20 for `ms` (at most `max`), kept open; what each attempt got. */
async function manySockets(srv: Srv, oneToken: boolean, ms = 3000, max = 2000): Promise<string> {
  const token = await srv.token('mallory');
  const results: string[] = [];
  const open: ReturnType<typeof attacker>[] = [];
  const end = performance.now() + ms;
  for (let wave = 0; performance.now() < end && results.length < max; wave++) {
    const batch = await Promise.all(
      Array.from({ length: 20 }, async (_, i) =>
        attacker(
          srv.wsUrl,
          oneToken ? token : await srv.token(`bot${wave}-${i}`),
          oneToken ? {} : { 'x-forwarded-for': `10.0.${wave % 250}.${i + 1}` },
        ),
      ),
    );
    results.push(...(await Promise.all(batch.map((a) => a.opened))));
    open.push(...batch);
  }
  for (const a of open) a.ws.terminate();
  return `${results.length} attempts in ${ms / 1000} s: ${count(results)}`;
}

/** Slowloris: TCP connections whose request headers never end. */
async function halfOpen(srv: Srv, n = 1500): Promise<string> {
  const { port } = new URL(srv.url);
  const sockets: Socket[] = [];
  let closed = 0;
  for (let i = 0; i < n; i++) {
    if (i % 50 === 0) await tick();
    const s = connect(Number(port), '127.0.0.1');
    s.on('error', () => {});
    s.once('connect', () => s.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n'));
    s.once('close', () => closed++);
    sockets.push(s);
  }
  await sleep(3000);
  const at3 = closed;
  const t0 = performance.now();
  const live = await fetch(`${srv.url}/livez`, { signal: AbortSignal.timeout(5000) }).then(
    (r) => `${r.status} in ${(performance.now() - t0).toFixed(0)} ms`,
    (e: Error) => e.name,
  );
  await sleep(9000);
  const at12 = closed;
  for (const s of sockets) s.destroy();
  return `${n} connections: closed by the server ${at3} after 3 s, ${at12} after 12 s; /livez ${live}`;
}

/** Many sockets, each sending one message in 1-byte fragments that never end. */
async function fragments(srv: Srv, sockets = 100, frags = 8000): Promise<string> {
  const as: ReturnType<typeof attacker>[] = [];
  for (let i = 0; i < sockets; i++) {
    const a = attacker(srv.wsUrl, await srv.token(`m${i}`));
    await a.opened;
    as.push(a);
  }
  const deadline = performance.now() + 15_000;
  for (let f = 0; f < frags && performance.now() < deadline; f += 200) {
    for (const a of as)
      if (a.ws.readyState === WebSocket.OPEN) for (let j = 0; j < 200; j++) a.ws.send('a', { fin: false });
    await tick();
    while (as.some((a) => a.ws.bufferedAmount > MiB)) await sleep(5);
  }
  await sleep(1500); // let the server read what is in flight
  const codes = as.map((a) => (a.ws.readyState === WebSocket.OPEN ? 'open' : 'closed'));
  const closeCodes = await Promise.all(
    as.filter((a) => a.ws.readyState !== WebSocket.OPEN).map((a) => a.closed),
  );
  for (const a of as) a.ws.terminate();
  return `${sockets} sockets x ${frags} fragments: ${count(codes)}${closeCodes.length ? ` (${count(closeCodes)})` : ''}`;
}

async function impersonation(srv: Srv): Promise<string> {
  const post = (body: object) =>
    fetch(new URL('/api/token', srv.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  let alice = await post({ name: 'alice', key: 'alice-browser-secret-0123456789' });
  if (!alice.ok) alice = await post({ name: 'alice' });
  const aliceId = ((await alice.json()) as { user: { id: string } }).user.id;
  const results: string[] = [];
  const end = performance.now() + 3000;
  while (performance.now() < end) {
    const wave = Array.from({ length: 40 }, async () => {
      const r = await post({ name: 'mallory', id: aliceId });
      if (!r.ok) return `refused ${r.status}`;
      const got = ((await r.json()) as { user: { id: string } }).user.id;
      return got === aliceId ? "token for alice's id" : 'token for another id';
    });
    results.push(...(await Promise.all(wave)));
  }
  return `${results.length} requests with alice's id in 3 s: ${count(results)}`;
}

export const MESSAGES = 1000;
export async function historyFlood(srv: Srv, sampleRedis: () => void): Promise<string> {
  const seeder = await ProtocolClient.connect(srv.wsUrl, await srv.token('archivist'));
  await seeder.join('archive');
  const text = '€'.repeat(2000);
  const ids = (
    await Promise.all(Array.from({ length: MESSAGES }, () => seeder.say('archive', text, clientMsgId())))
  ).map((a) => a.id);
  await seeder.close();
  const order: AttackOrder = {
    wsUrl: srv.wsUrl,
    token: await srv.token('mallory'),
    room: 'archive',
    sockets: 400,
    since: ids[0] as string,
    lastId: ids.at(-1) as string,
    expected: MESSAGES - 1,
  };
  const child = fork(fileURLToPath(new URL('../test/history-attack.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const outcomes = await new Promise<AttackOutcome[]>((resolveDone, reject) => {
      child.on('message', (m: { type: string; outcomes?: AttackOutcome[] }) => {
        if (m.type === 'burst') {
          sampleRedis();
          setTimeout(() => child.send({ cmd: 'stop' }), 10_000);
        }
        if (m.type === 'done') resolveDone(m.outcomes ?? []);
      });
      child.once('exit', (code) => reject(new Error(`attack process exited ${code}`)));
      child.send({ cmd: 'start', order });
    });
    const received = outcomes.reduce((n, o) => n + o.received, 0);
    const refusals = outcomes.flatMap((o) => Object.entries(o.refusals).map(([k, n]) => `${k}:${n}`));
    return `400 joins in 10 s: ${count(outcomes.map((o) => o.result))}; ${received} messages replayed; refusals ${refusals.length ? count(refusals.map((r) => r.split(':')[0] ?? '')) : 'none'}`;
  } finally {
    child.kill();
  }
}

export const FLOOD_LIMITS = { RATE_LIMIT_PER_S: '10', RATE_LIMIT_BURST: '20', RATE_LIMIT_CLOSE_AFTER: '50' };
export const ATTACKS: [string, Record<string, string>, (srv: Srv) => Promise<string>][] = [
  ['impersonation', {}, impersonation],
  ['pong flood', FLOOD_LIMITS, (s) => flood(s, '{"type":"pong","t":1}')],
  ['invalid-JSON flood', FLOOD_LIMITS, (s) => flood(s, '{"type":')],
  ['binary flood', FLOOD_LIMITS, (s) => flood(s, Buffer.from([1, 2, 3, 4]))],
  ['unknown-type flood', FLOOD_LIMITS, (s) => flood(s, '{"type":"shutdown"}')],
  ['one token, many sockets', {}, (s) => manySockets(s, true)],
  ['one IP, many sockets', {}, (s) => manySockets(s, false)],
  ['half-open TCP', {}, (s) => halfOpen(s)],
  ['fragment flood', {}, (s) => fragments(s)],
];
