/**
 * A load process: holds a share of the load clients, driven over IPC by the orchestrator
 * (src/run.ts). Every latency is measured here, on the receiving side, against the sender's
 * timestamp carried in the message text (the machine-wide monotonic clock, so a sender in
 * one load process and a receiver in another compare correctly).
 */
import { createSigner } from 'fast-jwt';
import { Histogram } from '../hist.js';
import { CentrifugoClient } from './centrifugo-client.js';
import type { BenchClient, ClientOptions, Sink } from './client-base.js';
import { BareClient, ChatClient, SocketIoClient } from './clients.js';
import type {
  AuditResult,
  BackgroundResult,
  Command,
  GroupSpec,
  OpenResult,
  RecoveryResult,
  Reply,
  Request,
  StatsResult,
} from './protocol.js';
import { emptyRecovery, nowUs } from './protocol.js';

const workerId = Number(process.env.BENCH_WORKER_ID ?? '0');

interface TagStats {
  hist: Histogram;
  delivered: number;
  sent: number;
  acked: number;
  expected: number;
  errors: number;
}

interface Publisher {
  client: BenchClient;
  room: string;
  members: number;
  credit: number;
}

interface Group {
  spec: GroupSpec;
  clients: BenchClient[];
}

const groups = new Map<string, Group>();
const stats = new Map<number, TagStats>();
const ackedByRoom = new Map<string, string[]>();
let reconnectUrls: string[] = [];
let seq = 0;
let errors = 0;
/** Errors the clients reported, by code ('resync': a resume the system could not serve). */
const errorCodes = new Map<string, number>();
let background: { timer: NodeJS.Timeout; tag: number; sent: number } | undefined;

function tagStats(tag: number): TagStats {
  let s = stats.get(tag);
  if (!s) {
    s = { hist: new Histogram(), delivered: 0, sent: 0, acked: 0, expected: 0, errors: 0 };
    stats.set(tag, s);
  }
  return s;
}

function tagOf(text: string): number {
  const i = text.indexOf('|');
  return i > 0 ? Number(text.slice(0, i)) : 0;
}

const sink: Sink = {
  delivered(_client, _room, _clientMsgId, text, live) {
    if (!live) return;
    const tag = tagOf(text);
    if (tag <= 0) return;
    const a = text.indexOf('|');
    const sentUs = Number(text.slice(a + 1, text.indexOf('|', a + 1)));
    const s = tagStats(tag);
    s.delivered++;
    s.hist.record(nowUs() - sentUs);
  },
  acked(_client, room, clientMsgId) {
    // clientMsgId = msg<tag>_<worker>_<seq>
    const tag = Number(clientMsgId.slice(3, clientMsgId.indexOf('_')));
    tagStats(tag).acked++;
    if (background && tag === background.tag) {
      const list = ackedByRoom.get(room) ?? [];
      ackedByRoom.set(room, list);
      list.push(clientMsgId);
    }
  },
  error(_client, code) {
    errors++;
    errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
  },
  recovered() {},
};

function membersOf(spec: GroupSpec, r: number): number {
  return Math.floor(spec.total / spec.rooms) + (r < spec.total % spec.rooms ? 1 : 0);
}

function roomName(spec: GroupSpec, r: number): string {
  return `${spec.roomPrefix}${r}`;
}

function makeClient(spec: GroupSpec, k: number, sign: ((p: object) => string) | undefined): BenchClient {
  const r = spec.rooms > 0 ? k % spec.rooms : 0;
  const j = spec.rooms > 0 ? Math.floor(k / spec.rooms) : k;
  const opts: ClientOptions = {
    index: k,
    url: spec.urls[j % spec.urls.length] ?? '',
    rooms: spec.rooms > 0 ? [roomName(spec, r)] : [],
    token: sign ? sign({ sub: `${spec.group}-${k}`, name: `b${k}` }) : undefined,
    localAddress: spec.localAddresses?.[k % spec.localAddresses.length],
    reconnect: spec.reconnect,
    reconnectUrls: () => reconnectUrls,
    track: spec.track,
    sink,
  };
  if (spec.system === 'chat') return new ChatClient(opts);
  if (spec.system === 'socketio') return new SocketIoClient(opts);
  if (spec.system === 'bare') return new BareClient(opts);
  return new CentrifugoClient(opts, spec.system === 'centrifugo-recovery');
}

function progress(group: string, done: number, of: number): void {
  const reply: Reply = { id: -1, progress: { group, done, of } };
  process.send?.(reply);
}

async function open(spec: GroupSpec, concurrency: number): Promise<OpenResult> {
  const started = performance.now();
  const sign =
    spec.tokenSecret === undefined
      ? undefined
      : createSigner({
          key: spec.tokenSecret,
          algorithm: 'HS256',
          aud: 'chat',
          iss: 'realtime-chat',
          expiresIn: 4 * 3600 * 1000,
        });
  const group: Group = { spec, clients: [] };
  groups.set(spec.group, group);
  const n = spec.to - spec.from;
  let next = 0;
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  let lastReport = 0;
  const runOne = async () => {
    while (next < n) {
      const k = spec.from + next++;
      const client = makeClient(spec, k, sign);
      let ok = false;
      for (let attempt = 0; attempt < 4 && !ok; attempt++) {
        try {
          if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * attempt));
          client.state = 'idle';
          await client.start();
          ok = true;
        } catch (err) {
          firstError ??= err instanceof Error ? err.message : String(err);
          client.stop();
        }
      }
      if (ok) {
        group.clients.push(client);
        opened++;
      } else failed++;
      if (opened + failed - lastReport >= 500) {
        lastReport = opened + failed;
        progress(spec.group, lastReport, n);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, runOne));
  progress(spec.group, n, n);
  return {
    opened,
    failed,
    joined: spec.rooms > 0 ? opened : 0,
    ...(firstError === undefined ? {} : { firstError }),
    ms: Math.round(performance.now() - started),
  };
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
function publish(tag: number, rate: number, warmupMs: number, durationMs: number): Promise<{ sent: number }> {
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

function startBackground(tag: number, rate: number): void {
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
  background = bg;
}

async function stopBackground(waitAcksMs: number): Promise<BackgroundResult> {
  const bg = background;
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

function audit(acked: Record<string, string[]>): AuditResult {
  let lost = 0;
  let duplicates = 0;
  let checked = 0;
  const lostSamples: string[] = [];
  const duplicateSamples: string[] = [];
  for (const { spec, clients } of groups.values()) {
    if (!spec.track) continue;
    for (const c of clients) {
      const got = c.received;
      if (!got) continue;
      for (const [id, n] of got) {
        if (n <= 1) continue;
        duplicates += n - 1;
        if (duplicateSamples.length < 10) duplicateSamples.push(`${spec.group}#${c.index} ${id} x${n}`);
      }
      for (const room of c.rooms) {
        for (const id of acked[room] ?? []) {
          checked++;
          if (!got.has(id)) {
            lost++;
            if (lostSamples.length < 10) lostSamples.push(`${spec.group}#${c.index} ${room} ${id}`);
          }
        }
      }
    }
  }
  return { lost, duplicates, checked, lostSamples, duplicateSamples };
}

function recovery(group: string): RecoveryResult {
  const clients = groups.get(group)?.clients ?? [];
  const res: RecoveryResult = {
    ...emptyRecovery(),
    clients: clients.length,
    errors: Object.fromEntries(errorCodes),
  };
  for (const c of clients) {
    if (c.closes === 0) continue;
    for (const [code, n] of c.closeCodes) res.closeCodes[code] = (res.closeCodes[code] ?? 0) + n;
    res.reconnectAttempts += c.attempts + c.recoveries;
    res.refused += c.refused;
    if (res.firstCloseUs === 0 || c.closedAtUs < res.firstCloseUs) res.firstCloseUs = c.closedAtUs;
    if (c.state === 'open' && c.rejoinedAtUs >= c.closedAtUs) {
      res.recovered++;
      res.lastRejoinUs = Math.max(res.lastRejoinUs, c.rejoinedAtUs);
      res.gapsUs.push(Math.round(c.rejoinedAtUs - c.closedAtUs));
    } else res.down++;
  }
  res.gapsUs.sort((a, b) => a - b);
  return res;
}

async function closeAll(): Promise<{ closed: number }> {
  if (background) clearInterval(background.timer);
  background = undefined;
  let closed = 0;
  for (const g of groups.values()) {
    for (const c of g.clients) {
      c.stop();
      closed++;
    }
  }
  groups.clear();
  stats.clear();
  ackedByRoom.clear();
  errorCodes.clear();
  // Let the close frames go out before the orchestrator stops the servers.
  await new Promise((r) => setTimeout(r, 300));
  return { closed };
}

function statsOf(tag: number): StatsResult {
  const s = tagStats(tag);
  return {
    hist: s.hist.toJSON(),
    delivered: s.delivered,
    sent: s.sent,
    acked: s.acked,
    expected: s.expected,
    errors,
  };
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.t) {
    case 'open':
      return open(cmd.spec, cmd.concurrency);
    case 'publish':
      return publish(cmd.tag, cmd.ratePerPublisher, cmd.warmupMs, cmd.durationMs);
    case 'startBackground':
      startBackground(cmd.tag, cmd.ratePerPublisher);
      return { started: true };
    case 'stopBackground':
      return stopBackground(cmd.waitAcksMs);
    case 'stats':
      return statsOf(cmd.tag);
    case 'reconnectUrls':
      reconnectUrls = cmd.urls;
      return { ok: true };
    case 'acked':
      return Object.fromEntries(ackedByRoom);
    case 'audit':
      return audit(cmd.acked);
    case 'recovery':
      return recovery(cmd.group);
    case 'closeAll':
      return closeAll();
  }
}

process.on('message', (req: Request) => {
  handle(req.cmd).then(
    (result) => process.send?.({ id: req.id, ok: true, result } satisfies Reply),
    (err: unknown) =>
      process.send?.({
        id: req.id,
        ok: false,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      } satisfies Reply),
  );
});
process.on('disconnect', () => process.exit(0));
