import {
  type ClientFrame,
  decodeServerFrame,
  handshakeProtocols,
  isTokenResponse,
  type ServerFrame,
  type ServerFrameOf,
  type ServerFrameType,
  SUBPROTOCOL,
  TOKEN_PATH,
} from '@chat/protocol';
import WebSocket from 'ws';

/**
 * A bare protocol client for tests (independent of packages/client, which is what some of
 * these tests check): validates and records every frame, answers pings, and waits for
 * specific frames or the close. Used by the server's, the harness's and the e2e tests.
 */

export type Closed = { code: number; reason: string };
type Waiter = { match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void };

/** A token from POST /api/token (the dev token endpoint). */
export async function fetchToken(baseUrl: string, name = 'tester'): Promise<string> {
  const res = await fetch(new URL(TOKEN_PATH, baseUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (!res.ok) throw new Error(`POST ${TOKEN_PATH}: ${res.status} ${await res.text()}`);
  const body: unknown = await res.json();
  if (!isTokenResponse(body))
    throw new Error(`POST ${TOKEN_PATH}: not a token response: ${JSON.stringify(body)}`);
  return body.token;
}

let seq = 0;
/** A fresh clientMsgId (8 to 64 of [A-Za-z0-9_-]). */
export function clientMsgId(): string {
  seq++;
  return `cm${Date.now().toString(36)}${seq.toString(36).padStart(4, '0')}`;
}

export class ProtocolClient {
  readonly frames: ServerFrame[] = [];
  readonly ws: WebSocket;
  /** Resolves on the upgrade; rejects with `HTTP <status>` when it is refused. */
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  private waiters: Waiter[] = [];

  /** `token` undefined offers only the subprotocol, as a client without a token would. */
  constructor(url: string, token: string | undefined, headers: Record<string, string> = {}) {
    const protocols = token === undefined ? [SUBPROTOCOL] : handshakeProtocols(token);
    this.ws = new WebSocket(url, protocols, { headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        this.ws.terminate();
        reject(new Error(`HTTP ${res.statusCode}`));
      });
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
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
      if (frame.type === 'ping')
        this.send({ type: 'pong', ...(frame.t === undefined ? {} : { t: frame.t }) });
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
  }

  /** Opens a socket and resolves after `welcome`. */
  static async connect(
    url: string,
    token: string,
    opts: { headers?: Record<string, string>; timeoutMs?: number } = {},
  ): Promise<ProtocolClient> {
    const c = new ProtocolClient(url, token, opts.headers);
    try {
      await c.opened;
      await c.next('welcome', () => true, opts.timeoutMs);
    } catch (err) {
      c.ws.terminate();
      throw err;
    }
    return c;
  }

  /** The pod that welcomed this socket. */
  get node(): string {
    const w = this.frames.find((f) => f.type === 'welcome');
    return w?.type === 'welcome' ? w.node : '';
  }

  send(frame: ClientFrame | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first frame of this type (already received or future) matching the predicate. */
  next<T extends ServerFrameType>(
    type: T,
    pred: (f: ServerFrameOf<T>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<ServerFrameOf<T>> {
    return this.waitFor(
      (f) => f.type === type && pred(f as ServerFrameOf<T>),
      timeoutMs,
      () => `no ${type} frame within ${timeoutMs} ms; got ${this.frames.map((f) => f.type)}`,
    ) as Promise<ServerFrameOf<T>>;
  }

  /** Joins (resuming after `since` when given) and resolves with the reply: joined or resync. */
  join(room: string, since?: string): Promise<ServerFrameOf<'joined'> | ServerFrameOf<'resync'>> {
    const before = this.frames.length;
    this.send(since === undefined ? { type: 'join', room } : { type: 'join', room, since });
    return this.waitFor(
      (f) =>
        (f.type === 'joined' || f.type === 'resync') && f.room === room && this.frames.indexOf(f) >= before,
      10_000,
      () => `no reply to join ${room}`,
    ) as Promise<ServerFrameOf<'joined'> | ServerFrameOf<'resync'>>;
  }

  say(room: string, text: string, id = clientMsgId()): Promise<ServerFrameOf<'ack'>> {
    this.send({ type: 'send', room, clientMsgId: id, text });
    return this.next('ack', (a) => a.clientMsgId === id);
  }

  messages(room: string): ServerFrameOf<'msg'>[] {
    return this.frames.filter((f): f is ServerFrameOf<'msg'> => f.type === 'msg' && f.room === room);
  }

  close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(1000);
    return this.closed;
  }

  private waitFor(
    match: (f: ServerFrame) => boolean,
    timeoutMs: number,
    why: () => string,
  ): Promise<ServerFrame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(why()));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

/** Drops every socket at once (no close handshake) and waits for each to be closed. */
export async function closeAll(clients: Iterable<ProtocolClient>): Promise<void> {
  await Promise.all(
    [...clients].map((c) => {
      c.ws.terminate();
      return c.closed;
    }),
  );
}
