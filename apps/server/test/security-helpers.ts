import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeServerFrame, handshakeProtocols, type ServerFrame } from '@chat/protocol';
import { clientMsgId as randomId } from '@chat/testkit';
import WebSocket from 'ws';

/**
 * What every attack test asserts for the honest client on the same pod: its round trips stay
 * under this (the 90th percentile of the samples taken during the attack, so one scheduling
 * hiccup of a shared CI box does not decide; the maximum is logged).
 */
export const HONEST_RTT_BOUND_MS = 200;
/** Below the default per-socket rate (10 frames/s) so the probe never limits itself. */
const PROBE_EVERY_MS = 120;

/**
 * An honest chat user for the attack tests: joins a room and measures message round trips
 * (send → durable ack) while an attack runs. Optionally from another loopback address, so a
 * per-IP cap on 127.0.0.1 does not apply to it.
 */
export class Honest {
  private waiters = new Map<string, (f: ServerFrame) => void>();
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('message', (data) => {
      const decoded = decodeServerFrame(data.toString());
      if (!decoded.ok) return;
      const f = decoded.frame;
      if (f.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
      const key =
        f.type === 'ack' ? f.clientMsgId : f.type === 'joined' || f.type === 'resync' ? f.room : f.type;
      const w = this.waiters.get(key);
      if (w) {
        this.waiters.delete(key);
        w(f);
      }
    });
  }

  static async connect(wsUrl: string, token: string, opts: { localAddress?: string } = {}): Promise<Honest> {
    const ws = new WebSocket(wsUrl, handshakeProtocols(token), opts);
    const h = new Honest(ws);
    const welcome = h.wait('welcome');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    await welcome;
    return h;
  }

  private wait(key: string, timeoutMs = 5000): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${key} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(key, (f) => {
        clearTimeout(timer);
        resolve(f);
      });
    });
  }

  async join(room: string): Promise<void> {
    const joined = this.wait(room);
    this.ws.send(JSON.stringify({ type: 'join', room }));
    await joined;
  }

  /** Milliseconds from sending a message to its ack (stored and acknowledged by the pod). */
  async roundTrip(room: string): Promise<number> {
    const id = randomId();
    const start = performance.now();
    const ack = this.wait(id);
    this.ws.send(JSON.stringify({ type: 'send', room, clientMsgId: id, text: 'honest' }));
    await ack;
    return performance.now() - start;
  }

  /** Measures round trips back to back (paced) until `stop()`. */
  probe(room: string): { stop(): Promise<RoundTrips> } {
    const samples: number[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const t0 = performance.now();
        // A round trip that never completes counts as what it waited, not as a crash.
        samples.push(await this.roundTrip(room).catch(() => performance.now() - t0));
        const rest = PROBE_EVERY_MS - (performance.now() - t0);
        if (rest > 0 && running) await new Promise((r) => setTimeout(r, rest));
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        return summarize(samples);
      },
    };
  }

  close(): Promise<number> {
    this.ws.close(1000);
    return this.closed;
  }
}

export interface RoundTrips {
  raw: number[];
  max: number;
  median: number;
  p90: number;
  samples: number;
  toString(): string;
}

/**
 * An honest user in its own process, so that what the test process spends generating an attack
 * does not show up as the honest user's latency: only the pod under attack does.
 */
export class HonestProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(
    wsUrl: string,
    token: string,
    opts: { localAddress?: string } = {},
  ): Promise<HonestProcess> {
    const child = fork(fileURLToPath(new URL('./honest-probe.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const h = new HonestProcess(child);
    await h.request({ cmd: 'connect', wsUrl, token, ...opts }, 'ready');
    return h;
  }

  private request(msg: Record<string, unknown>, reply: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        if (m.type === 'error') reject(new Error(String(m.message)));
        else if (m.type === reply) resolve(m);
        else return;
        this.child.off('message', onMessage);
      };
      this.child.on('message', onMessage);
      this.child.send(msg);
    });
  }

  probe(): { stop(): Promise<RoundTrips> } {
    const started = this.request({ cmd: 'start' }, 'started');
    return {
      stop: async () => {
        await started;
        const m = await this.request({ cmd: 'stop' }, 'stats');
        return summarize(m.samples as number[]);
      },
    };
  }

  async roundTrip(): Promise<number> {
    return Number((await this.request({ cmd: 'once' }, 'rtt')).ms);
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'close' });
    await exited;
  }
}

export function summarize(samples: number[]): RoundTrips {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.POSITIVE_INFINITY;
  return {
    raw: samples,
    max: at(1),
    median: at(0.5),
    p90: at(0.9),
    samples: samples.length,
    toString: () =>
      `honest rtt p90 ${at(0.9).toFixed(1)} ms, max ${at(1).toFixed(1)} ms (n=${samples.length})`,
  };
}

/** Resolves with the value, or rejects after `ms` (attacks must end within a bound). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  ]);
}

export const MiB = 2 ** 20;
