import { handshakeProtocols, parseCloseReason } from '@chat/protocol';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { nowUs } from './protocol.js';

/** What a client tells its worker. */
export interface Sink {
  /** A chat message reached this client; `live` is false for messages replayed on (re)join. */
  delivered(client: BenchClient, room: string, clientMsgId: string, text: string, live: boolean): void;
  acked(client: BenchClient, room: string, clientMsgId: string): void;
  error(client: BenchClient, code: string): void;
  /** The client is connected and has joined every room again after a close it did not ask for. */
  recovered(client: BenchClient): void;
}

export interface ClientOptions {
  index: number;
  url: string;
  rooms: string[];
  token: string | undefined;
  localAddress: string | undefined;
  reconnect: boolean;
  /** Pods to reconnect to (a random one each time). */
  reconnectUrls: () => string[];
  track: boolean;
  sink: Sink;
}

interface Pending {
  room: string;
  clientMsgId: string;
  text: string;
}

/** Full-jitter exponential backoff: random in [0, min(cap, base * 2^attempt)]. */
function backoff(attempt: number, baseMs = 250, capMs = 5000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/**
 * One load client, independent of the system behind it: connects, joins its rooms, sends,
 * and (when `reconnect` is set) comes back after a close it did not ask for, rejoins its
 * rooms (resuming where the system supports it) and resends what was never acknowledged.
 */
export abstract class BenchClient {
  readonly index: number;
  readonly rooms: string[];
  url: string;
  state: 'idle' | 'connecting' | 'open' | 'down' | 'closed' = 'idle';
  /** Messages sent (or composed while down) and not acknowledged yet, in order. */
  readonly pending = new Map<string, Pending>();
  /** clientMsgId -> times received (only with `track`). */
  readonly received: Map<string, number> | undefined;
  closedAtUs = 0;
  rejoinedAtUs = 0;
  closes = 0;
  recoveries = 0;
  attempts = 0;
  refused = 0;
  readonly closeCodes = new Map<number, number>();
  resent = 0;
  protected readonly opts: ClientOptions;
  private retry: NodeJS.Timeout | undefined;

  constructor(opts: ClientOptions) {
    this.opts = opts;
    this.index = opts.index;
    this.rooms = opts.rooms;
    this.url = opts.url;
    this.received = opts.track ? new Map() : undefined;
  }

  /** Connects and joins every room; rejects when the connection or a join fails. */
  async start(): Promise<void> {
    this.state = 'connecting';
    await this.connect(this.url);
    await Promise.all(this.rooms.map((room) => this.join(room)));
    this.state = 'open';
  }

  /** Sends now when open; otherwise queues it for after the reconnect (like a real client's outbox). */
  send(room: string, clientMsgId: string, text: string): void {
    const p = { room, clientMsgId, text };
    this.pending.set(clientMsgId, p);
    if (this.state === 'open') this.transmit(p);
  }

  stop(): void {
    this.state = 'closed';
    clearTimeout(this.retry);
    this.disconnect();
  }

  readonly trail = new Map<string, string[]>();
  protected onDelivered(room: string, clientMsgId: string, text: string, live: boolean): void {
    if (this.received) {
      const l = this.trail.get(clientMsgId) ?? [];
      l.push(`${live ? 'live' : 'replay'}@${this.url.slice(-8)} c${this.closes} s${this.state}`);
      this.trail.set(clientMsgId, l);
    }
    if (this.received) this.received.set(clientMsgId, (this.received.get(clientMsgId) ?? 0) + 1);
    this.opts.sink.delivered(this, room, clientMsgId, text, live);
  }

  protected onAck(room: string, clientMsgId: string): void {
    if (this.pending.delete(clientMsgId)) this.opts.sink.acked(this, room, clientMsgId);
  }

  /** The connection ended; `hintMs` is the server's suggested reconnect delay, if any. */
  protected onClosed(code: number, hintMs: number | undefined): void {
    if (this.state === 'closed' || this.state === 'down') return;
    const wasUp = this.state === 'open';
    this.state = 'down';
    if (wasUp) {
      this.closes++;
      this.closedAtUs = nowUs();
      this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
    }
    if (!this.opts.reconnect) return;
    this.schedule(hintMs === undefined ? backoff(0, 500, 1500) : Math.random() * hintMs);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.reconnect(), delayMs);
  }

  private async reconnect(): Promise<void> {
    if (this.state !== 'down') return;
    const urls = this.opts.reconnectUrls();
    this.url = urls[Math.floor(Math.random() * urls.length)] ?? this.url;
    this.attempts++;
    try {
      this.state = 'connecting';
      await this.connect(this.url);
      await Promise.all(this.rooms.map((room) => this.join(room)));
    } catch (err) {
      this.disconnect();
      if ((this.state as string) === 'closed') return;
      if (err instanceof Refused) this.refused++;
      this.state = 'down';
      this.schedule(backoff(Math.min(this.attempts, 5)));
      return;
    }
    if ((this.state as string) === 'closed') return;
    this.state = 'open';
    this.attempts = 0;
    this.rejoinedAtUs = nowUs();
    this.recoveries++;
    this.opts.sink.recovered(this);
    for (const p of this.pending.values()) {
      this.resent++;
      this.transmit(p);
    }
  }

  protected abstract connect(url: string): Promise<void>;
  protected abstract join(room: string): Promise<void>;
  protected abstract transmit(p: Pending): void;
  protected abstract disconnect(): void;
}

export class Refused extends Error {}

interface WireMessage {
  id?: string;
  room?: string;
  clientMsgId?: string;
  text?: string;
}

interface ChatFrame extends WireMessage {
  type?: string;
  code?: string;
  ref?: string;
  retryAfterMs?: number;
  messages?: WireMessage[];
}

const CONNECT_TIMEOUT_MS = 20_000;

/**
 * What the two plain-`ws` clients share: the socket, its open/close handling (a refused
 * upgrade is a Refused error; a close fails pending joins and reports to the base class) and
 * the joins waiting for their reply. They differ only in frame format and in resuming.
 */
abstract class WsBenchClient extends BenchClient {
  protected ws: WebSocket | undefined;
  private readonly joins = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  private welcomed: (() => void) | undefined;

  /** Opens the socket; resolves on the server's welcome (`welcomed()`). */
  protected open(
    url: string,
    protocols: string[],
    retryHint: (reason: string) => number | undefined,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, {
        perMessageDeflate: false,
        handshakeTimeout: CONNECT_TIMEOUT_MS,
        ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
      });
      this.ws = ws;
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      this.welcomed = () => {
        settled = true;
        resolve();
      };
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        fail(new Refused(`HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.on('error', (err) => fail(err));
      ws.on('message', (data: Buffer) => this.onFrame(data));
      ws.on('close', (code, reason) => {
        if (this.ws !== ws) return;
        fail(new Error(`closed ${code} before welcome`));
        for (const j of this.joins.values()) j.reject(new Error(`closed ${code}`));
        this.joins.clear();
        this.onClosed(code, retryHint(reason.toString()));
      });
    });
  }

  protected abstract onFrame(data: Buffer): void;

  protected welcome(): void {
    this.welcomed?.();
  }

  /** Sends a join frame and resolves when `joined(room)` is called for it. */
  protected awaitJoin(room: string, frame: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.joins.set(room, { resolve, reject });
      this.ws?.send(frame);
    });
  }

  protected joined(room: string): void {
    this.joins.get(room)?.resolve();
    this.joins.delete(room);
  }

  /** Fails a waiting join, if `room` names one; true when it did. */
  protected joinRefused(room: string, code: string): boolean {
    const j = this.joins.get(room);
    if (!j) return false;
    j.reject(new Error(`join refused: ${code}`));
    this.joins.delete(room);
    return true;
  }

  protected disconnect(): void {
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== ws.CLOSED) ws.close(1000);
  }
}

/** A client of this server: the chat.v1 protocol over `ws`, resuming with `since` after a close. */
export class ChatClient extends WsBenchClient {
  private readonly lastIds = new Map<string, string>();

  protected connect(url: string): Promise<void> {
    return this.open(
      url,
      handshakeProtocols(this.opts.token ?? ''),
      (reason) => parseCloseReason(reason).retryAfterMs,
    );
  }

  protected join(room: string): Promise<void> {
    const since = this.closes > 0 ? (this.lastIds.get(room) ?? '0-0') : undefined;
    return this.awaitJoin(room, JSON.stringify({ type: 'join', room, ...(since ? { since } : {}) }));
  }

  protected transmit(p: Pending): void {
    this.ws?.send(`{"type":"send","room":"${p.room}","clientMsgId":"${p.clientMsgId}","text":"${p.text}"}`);
  }

  protected onFrame(data: Buffer): void {
    const f = JSON.parse(data.toString()) as ChatFrame;
    switch (f.type) {
      case 'msg':
        if (f.room && f.id) this.lastIds.set(f.room, f.id);
        this.onDelivered(f.room ?? '', f.clientMsgId ?? '', f.text ?? '', true);
        return;
      case 'ack':
        this.onAck(f.room ?? '', f.clientMsgId ?? '');
        return;
      case 'welcome':
        this.welcome();
        return;
      case 'joined':
      case 'resync': {
        const room = f.room ?? '';
        if (f.type === 'resync') this.opts.sink.error(this, 'resync');
        for (const m of f.messages ?? []) {
          if (m.id) this.lastIds.set(room, m.id);
          // Replayed on a resume: the gap. A fresh join's history page is old news.
          if (this.closes > 0) this.onDelivered(room, m.clientMsgId ?? '', m.text ?? '', false);
        }
        this.joined(room);
        return;
      }
      case 'ping':
        this.ws?.send('{"type":"pong"}');
        return;
      case 'error':
        this.opts.sink.error(this, f.code ?? 'error');
        if (f.code === 'unavailable' && f.ref && this.pending.has(f.ref)) {
          const p = this.pending.get(f.ref);
          setTimeout(() => p && this.pending.has(p.clientMsgId) && this.transmit(p), f.retryAfterMs ?? 1000);
        }
        if (f.ref) this.joinRefused(f.ref, f.code ?? 'error');
        return;
      default:
        return;
    }
  }
}

/** A Socket.IO client (socket.io-client, websocket transport only). No resume exists: a rejoin is fresh. */
export class SocketIoClient extends BenchClient {
  private socket: Socket | undefined;

  protected connect(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const options = {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        timeout: CONNECT_TIMEOUT_MS,
        auth: { token: this.opts.token ?? '' },
        ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
      };
      const socket = io(url, options);
      this.socket = socket;
      let settled = false;
      socket.on('connect', () => {
        settled = true;
        resolve();
      });
      socket.on('connect_error', (err) => {
        socket.close();
        if (!settled) {
          settled = true;
          reject(new Refused(err.message));
        }
      });
      socket.on('msg', (m: WireMessage) =>
        this.onDelivered(m.room ?? '', m.clientMsgId ?? '', m.text ?? '', true),
      );
      socket.on('disconnect', (reason) => {
        if (this.socket !== socket || reason === 'io client disconnect') return;
        this.onClosed(reason === 'io server disconnect' ? 1001 : 1006, undefined);
      });
    });
  }

  protected join(room: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = this.socket;
      if (!socket) return reject(new Error('not connected'));
      socket
        .timeout(CONNECT_TIMEOUT_MS)
        .emit('join', room, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  protected transmit(p: Pending): void {
    this.socket?.emit(
      'send',
      { room: p.room, clientMsgId: p.clientMsgId, text: p.text },
      (res: { ok: boolean }) => {
        if (res?.ok) this.onAck(p.room, p.clientMsgId);
      },
    );
  }

  protected disconnect(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.disconnect();
  }
}

interface BareFrame extends WireMessage {
  t?: string;
}

/** A client of the bare ws + Redis loop: join, send, get what is published; no resume. */
export class BareClient extends WsBenchClient {
  protected connect(url: string): Promise<void> {
    return this.open(url, [], () => undefined);
  }

  protected join(room: string): Promise<void> {
    return this.awaitJoin(room, `{"t":"join","room":"${room}"}`);
  }

  protected transmit(p: Pending): void {
    this.ws?.send(`{"t":"send","room":"${p.room}","clientMsgId":"${p.clientMsgId}","text":"${p.text}"}`);
  }

  protected onFrame(data: Buffer): void {
    const f = JSON.parse(data.toString()) as BareFrame;
    switch (f.t) {
      case 'msg':
        this.onDelivered(f.room ?? '', f.clientMsgId ?? '', f.text ?? '', true);
        return;
      case 'ack':
        this.onAck(f.room ?? '', f.clientMsgId ?? '');
        return;
      case 'welcome':
        this.welcome();
        return;
      case 'joined':
        this.joined(f.room ?? '');
        return;
      default:
        return;
    }
  }
}
