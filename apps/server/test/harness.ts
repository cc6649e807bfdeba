import {
  type ClientFrame,
  decodeServerFrame,
  handshakeProtocols,
  type ServerFrame,
  type ServerFrameOf,
  type ServerFrameType,
} from '@chat/protocol';
import Fastify, { type FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import app, { type AppOptions } from '../src/app.js';
import { loadConfig } from '../src/config.js';

export const SECRET = 'test-secret-that-is-at-least-32-characters-long';

/** Resolves once the predicate holds; for hooks, where expect.poll is not available. */
export async function until(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface RunningApp {
  app: FastifyInstance;
  url: string;
  wsUrl: string;
  token(name?: string, opts?: { rooms?: string[]; ttlS?: number }): string;
  close(): Promise<void>;
}

/** A real app on a real port (127.0.0.1:0), configured through the same env parsing as prod. */
export async function startApp(
  env: Record<string, string> = {},
  extra: Omit<AppOptions, 'config'> = {},
): Promise<RunningApp> {
  const config = loadConfig({
    TOKEN_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    HEARTBEAT_MS: '60000',
    ALLOWED_ORIGINS: 'http://allowed.example',
    ...env,
  });
  const fastify = Fastify({ logger: { level: config.LOG_LEVEL } });
  await fastify.register(app, { config, web: false, ...extra });
  const address = await fastify.listen({ port: 0, host: '127.0.0.1' });
  return {
    app: fastify,
    url: address,
    wsUrl: `${address.replace('http', 'ws')}/ws`,
    token: (name = 'tester', opts = {}) => fastify.tokens.issue(name, opts).token,
    close: () => fastify.close(),
  };
}

type Waiter = { match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void };

/** A bare protocol client for server tests: records frames and waits for specific ones. */
export class TestClient {
  readonly frames: ServerFrame[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Waiter[] = [];

  constructor(url: string, token: string | undefined, headers: Record<string, string> = {}) {
    const protocols = token === undefined ? ['chat.v1'] : handshakeProtocols(token);
    this.ws = new WebSocket(url, protocols, { headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) =>
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) throw new Error('server sent a binary frame');
      const decoded = decodeServerFrame(data.toString());
      if (!decoded.ok)
        throw new Error(`server sent an invalid frame: ${decoded.message}: ${data.toString()}`);
      const frame = decoded.frame;
      this.frames.push(frame);
      if (frame.type === 'ping') this.send({ type: 'pong', t: frame.t });
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
  }

  static async connect(url: string, token: string, headers?: Record<string, string>): Promise<TestClient> {
    const c = new TestClient(url, token, headers);
    await c.opened;
    await c.next('welcome');
    return c;
  }

  send(frame: ClientFrame | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first frame of this type (already received or future) matching the predicate. */
  next<T extends ServerFrameType>(
    type: T,
    pred: (f: ServerFrameOf<T>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<ServerFrameOf<T>> {
    const match = (f: ServerFrame): boolean => f.type === type && pred(f as ServerFrameOf<T>);
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen as ServerFrameOf<T>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no ${type} frame within ${timeoutMs} ms; got ${this.frames.map((f) => f.type)}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f as ServerFrameOf<T>);
        },
      });
    });
  }

  async join(room: string, since?: string): Promise<ServerFrameOf<'joined'> | ServerFrameOf<'resync'>> {
    const before = this.frames.length;
    this.send(since === undefined ? { type: 'join', room } : { type: 'join', room, since });
    const isReply = (f: ServerFrame) =>
      (f.type === 'joined' || f.type === 'resync') && f.room === room && this.frames.indexOf(f) >= before;
    const found = this.frames.slice(before).find(isReply);
    if (found) return found as ServerFrameOf<'joined'>;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to join ${room}`)), 5000);
      this.waiters.push({
        match: isReply,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f as ServerFrameOf<'joined'>);
        },
      });
    });
  }

  async say(room: string, text: string, clientMsgId = randomId()): Promise<ServerFrameOf<'ack'>> {
    this.send({ type: 'send', room, clientMsgId, text });
    return this.next('ack', (a) => a.clientMsgId === clientMsgId);
  }

  messages(room: string): ServerFrameOf<'msg'>[] {
    return this.frames.filter((f): f is ServerFrameOf<'msg'> => f.type === 'msg' && f.room === room);
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(1000);
    return this.closed;
  }
}

let counter = 0;
export function randomId(): string {
  counter++;
  return `cm${Date.now().toString(36)}${counter.toString(36).padStart(4, '0')}`;
}

export interface ServerProcess {
  url: string;
  wsUrl: string;
  token(name?: string): Promise<string>;
  /** Resident memory of the server process, from its own /metrics. */
  rss(): Promise<number>;
  alive(): boolean;
  signal(sig: NodeJS.Signals): void;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** The real server as its own process (via tsx): for memory figures and "stays up" checks. */
export async function spawnServer(env: Record<string, string>): Promise<ServerProcess> {
  const { spawn } = await import('node:child_process');
  const { createInterface } = await import('node:readline');
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', TOKEN_SECRET: SECRET, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let url = '';
  // Never leave a child behind: kill it if it does not come up in time.
  const startTimer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  for await (const line of createInterface({ input: proc.stdout })) {
    const m = /chat ready at (http:\/\/[^"\s]+)/.exec(line);
    if (m?.[1]) {
      url = m[1];
      break;
    }
  }
  clearTimeout(startTimer);
  proc.stdout.resume(); // keep draining logs so the child never blocks on a full pipe
  if (!url) {
    proc.kill('SIGKILL');
    throw new Error('server process did not start');
  }
  return {
    url,
    wsUrl: `${url.replace('http', 'ws')}/ws`,
    async token(name = 'tester') {
      const res = await fetch(`${url}/api/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      return ((await res.json()) as { token: string }).token;
    },
    async rss() {
      const text = await (await fetch(`${url}/metrics`)).text();
      const m = /^process_resident_memory_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
      if (!m?.[1]) throw new Error('no process_resident_memory_bytes in /metrics');
      return Number(m[1]);
    },
    alive: () => proc.exitCode === null,
    signal: (sig) => void proc.kill(sig),
    exited,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}
