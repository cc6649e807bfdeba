import { readFileSync } from 'node:fs';
import {
  type ClientFrame,
  decodeServerFrame,
  handshakeProtocols,
  type ServerFrame,
  type ServerFrameOf,
  type ServerFrameType,
} from '@chat/protocol';
import WebSocket from 'ws';

/** A token from POST /api/token (through the load balancer). */
export async function token(baseUrl: string, name = 'tester'): Promise<string> {
  const res = await fetch(`${baseUrl}/api/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (!res.ok) throw new Error(`POST /api/token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

type Waiter = { match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void };
export type Closed = { code: number; reason: string };

let seq = 0;
export const msgId = () => `m${Date.now().toString(36)}x${(seq++).toString(36)}`.padEnd(8, '0');

/**
 * A bare protocol client on `ws` (independent of packages/client): records frames, answers
 * pings, and waits for specific frames or the close.
 */
export class Client {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<Closed>;
  node = '';
  private waiters: Waiter[] = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const decoded = decodeServerFrame(data.toString());
      if (!decoded.ok) throw new Error(`invalid frame: ${decoded.message}`);
      const f = decoded.frame;
      this.frames.push(f);
      if (f.type === 'ping') this.send({ type: 'pong', ...(f.t === undefined ? {} : { t: f.t }) });
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(f)) return true;
        w.resolve(f);
        return false;
      });
    });
  }

  /** Opens a socket and resolves after `welcome`; rejects with `HTTP <status>` on a refused upgrade. */
  static connect(wsUrl: string, tok: string, timeoutMs = 10_000): Promise<Client> {
    const ws = new WebSocket(wsUrl, handshakeProtocols(tok));
    const client = new Client(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no welcome within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`HTTP ${res.statusCode}`));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      client
        .next('welcome', () => true, timeoutMs)
        .then(
          (w) => {
            clearTimeout(timer);
            client.node = w.node;
            resolve(client);
          },
          () => {},
        );
    });
  }

  send(frame: ClientFrame): void {
    this.ws.send(JSON.stringify(frame));
  }

  next<T extends ServerFrameType>(
    type: T,
    pred: (f: ServerFrameOf<T>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<ServerFrameOf<T>> {
    const match = (f: ServerFrame): boolean => f.type === type && pred(f as ServerFrameOf<T>);
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen as ServerFrameOf<T>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.match !== match);
        reject(new Error(`no ${type} frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f as ServerFrameOf<T>);
        },
      });
    });
  }

  async join(room: string): Promise<ServerFrameOf<'joined'>> {
    const already = this.frames.length;
    this.send({ type: 'join', room });
    return this.next('joined', (f) => f.room === room && this.frames.indexOf(f) >= already);
  }

  async say(room: string, text: string): Promise<ServerFrameOf<'ack'>> {
    const clientMsgId = msgId();
    this.send({ type: 'send', room, clientMsgId, text });
    return this.next('ack', (f) => f.clientMsgId === clientMsgId);
  }

  close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(1000);
    return this.closed;
  }
}

export async function closeAll(clients: Iterable<Client>): Promise<void> {
  await Promise.all(
    [...clients].map((c) => {
      c.ws.terminate();
      return c.closed;
    }),
  );
}

/** Whether a process exists and is not a zombie (an exited child nobody reaped yet). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
