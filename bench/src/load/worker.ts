/**
 * A load process: holds a share of the load clients, driven over IPC by the orchestrator
 * (src/run.ts). Every latency is measured here, on the receiving side, against the sender's
 * timestamp carried in the message text (the machine-wide monotonic clock, so a sender in
 * one load process and a receiver in another compare correctly).
 */
import { createSigner } from 'fast-jwt';
import { CentrifugoClient } from './centrifugo-client.js';
import { audit, recovery, statsOf } from './checks.js';
import type { BenchClient, ClientOptions } from './client-base.js';
import { BareClient, ChatClient, SocketIoClient } from './clients.js';
import type { Command, GroupSpec, OpenResult, Reply, Request, Results } from './protocol.js';
import { publish, startBackground, stopBackground } from './publishing.js';
import { ackedByRoom, type Group, groups, reset, roomName, sink } from './state.js';

let reconnectUrls: string[] = [];

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

async function closeAll(): Promise<{ closed: number }> {
  let closed = 0;
  for (const g of groups.values()) {
    for (const c of g.clients) {
      c.stop();
      closed++;
    }
  }
  reset();
  // Let the close frames go out before the orchestrator stops the servers.
  await new Promise((r) => setTimeout(r, 300));
  return { closed };
}

type Handlers = {
  [K in Command['t']]: (cmd: Extract<Command, { t: K }>) => Results[K] | Promise<Results[K]>;
};

/** One handler per command; its answer is the command's entry in `Results` (the IPC contract). */
const handlers: Handlers = {
  open: (c) => open(c.spec, c.concurrency),
  publish: (c) => publish(c.tag, c.ratePerPublisher, c.warmupMs, c.durationMs),
  startBackground: (c) => {
    startBackground(c.tag, c.ratePerPublisher);
    return { started: true };
  },
  stopBackground: (c) => stopBackground(c.waitAcksMs),
  stats: (c) => statsOf(c.tag),
  reconnectUrls: (c) => {
    reconnectUrls = c.urls;
    return { ok: true };
  },
  acked: () => Object.fromEntries(ackedByRoom),
  audit: (c) => audit(c.acked),
  recovery: (c) => recovery(c.group),
  closeAll: () => closeAll(),
};

function handle(cmd: Command): Promise<unknown> {
  // handlers[cmd.t] takes exactly this command (the table is keyed by its tag).
  const h = handlers[cmd.t] as (c: Command) => unknown;
  return Promise.resolve().then(() => h(cmd));
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
