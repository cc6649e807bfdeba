import type { AddressInfo } from 'node:net';
import {
  type ChatMessage,
  type ClientFrame,
  type ClientFrameOf,
  compareIds,
  decodeClientFrame,
  type ErrorFrame,
  encodeFrame,
  type PresenceEntry,
  type ServerFrame,
  SUBPROTOCOL,
  tokenFromProtocols,
  WS_PATH,
} from '@chat/protocol';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * A minimal, controllable chat server for the client's tests: it speaks the protocol (welcome,
 * heartbeat, join with `since`, send/ack with idempotency, presence, msg fan-out) and lets a test
 * refuse upgrades, close with any code, drop sockets, go silent, hold, drop or refuse sends, and
 * refuse joins.
 */

export type SendBehaviour =
  /** Store, fan out the msg, then ack (the default). */
  | 'ack'
  /** Ack first, then fan out the msg. */
  | 'ack-first'
  /** Store and fan out, but keep the ack until `releaseAcks()`. */
  | 'hold'
  /** Store durably but send nothing (as if the pod died right after XADD). */
  | 'store-silently'
  /** Ignore the frame (lost in transit). */
  | 'drop'
  /** Answer with an error frame about this clientMsgId. */
  | { error: ErrorFrame['code']; retryAfterMs?: number };

export type JoinBehaviour =
  /** Join (or resume) the room (the default). */
  | 'join'
  /** Ignore the frame (lost in transit). */
  | 'drop'
  /** Answer with an error frame about this room, as the real server does when Redis is down. */
  | { error: ErrorFrame['code']; retryAfterMs?: number };

export interface FakeServerOptions {
  heartbeatMs?: number;
  node?: string;
  maxTextChars?: number;
  /** Messages in a `joined` without `since` (and in a resync). */
  pageSize?: number;
}

export interface Received {
  conn: FakeConnection;
  frame: ClientFrame;
  at: number;
}

export class FakeConnection {
  /** Stops pinging and answering (frames are still recorded): a dead peer that keeps the TCP open. */
  silent = false;
  readonly rooms = new Set<string>();
  readonly frames: ClientFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly user: { id: string; name: string };

  constructor(
    readonly ws: WebSocket,
    readonly token: string,
    readonly id: string,
    readonly protocol: string,
  ) {
    const userId = token.split('.')[0] ?? token;
    this.user = { id: userId, name: `user ${userId}` };
  }

  get presenceEntry(): PresenceEntry {
    return { key: this.id, id: this.user.id, name: this.user.name };
  }

  send(frame: ServerFrame | string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(typeof frame === 'string' ? frame : encodeFrame(frame));
  }

  close(code: number, reason = ''): void {
    this.ws.close(code, reason);
  }

  /** Drops the TCP connection without a close frame: the client sees 1006. */
  terminate(): void {
    this.ws.terminate();
  }
}

interface Room {
  messages: ChatMessage[];
  members: Set<FakeConnection>;
}

export class FakeServer {
  readonly connections: FakeConnection[] = [];
  readonly received: Received[] = [];
  /** Offered tokens, one per upgrade request (refused ones included). */
  readonly upgradeTokens: string[] = [];
  /** HTTP status for refused upgrades (401, 403, 503...), or undefined to accept. */
  refuseWith: number | undefined;
  /** Rooms whose join is refused with forbidden_room. */
  readonly forbiddenRooms = new Set<string>();
  /** The next join with `since` gets a resync instead (reason trimmed). */
  resyncNext = false;
  /** Decides what happens to each `join` (after forbiddenRooms); called once per join frame. */
  joinBehaviour: (frame: ClientFrameOf<'join'>, conn: FakeConnection) => JoinBehaviour = () => 'join';
  /** Decides what happens to each `send`; called once per received send frame. */
  sendBehaviour: (frame: ClientFrameOf<'send'>, conn: FakeConnection) => SendBehaviour = () => 'ack';
  /** False: new connections get no welcome (an attempt that hangs after the upgrade). */
  welcomeNewConnections = true;
  /**
   * Announced token lifetime (welcome.expiresInMs, and refreshed.expiresInMs after a `refresh`
   * whose token passes `acceptRefresh`); undefined announces none.
   */
  tokenLifetimeMs: number | undefined;
  acceptRefresh: (token: string) => boolean = () => true;
  /** Called right after a connection got its welcome. */
  onConnection: ((conn: FakeConnection) => void) | undefined;

  private readonly rooms = new Map<string, Room>();
  private readonly byClientMsgId = new Map<string, ChatMessage>();
  private readonly heldAcks: Array<() => void> = [];
  private readonly waiters = new Set<() => void>();
  private seq = 0;
  private nextConn = 0;

  private constructor(
    private readonly wss: WebSocketServer,
    readonly url: string,
    readonly options: Required<FakeServerOptions>,
  ) {}

  static async start(options: FakeServerOptions = {}): Promise<FakeServer> {
    const resolved: Required<FakeServerOptions> = {
      heartbeatMs: options.heartbeatMs ?? 1_000,
      node: options.node ?? 'fake-pod-0',
      maxTextChars: options.maxTextChars ?? 4000,
      pageSize: options.pageSize ?? 50,
    };
    let server: FakeServer | undefined;
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      path: WS_PATH,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
      verifyClient: (info, done) => {
        const offered = String(info.req.headers['sec-websocket-protocol'] ?? '')
          .split(',')
          .map((p) => p.trim());
        server?.upgradeTokens.push(tokenFromProtocols(offered) ?? '');
        server?.notify();
        const status = server?.refuseWith;
        if (status === undefined) done(true);
        else done(false, status, 'refused by the fake server');
      },
    });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    const { port } = wss.address() as AddressInfo;
    server = new FakeServer(wss, `ws://127.0.0.1:${port}${WS_PATH}`, resolved);
    wss.on('connection', (ws, req) => server?.accept(ws, req.headers['sec-websocket-protocol']));
    return server;
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  /** The n-th connection (1-based), once it exists. */
  async connection(n: number): Promise<FakeConnection> {
    await this.until(() => this.connections.length >= n);
    const conn = this.connections[n - 1];
    if (!conn) throw new Error('unreachable');
    return conn;
  }

  /** Resolves with the first received frame (from `fromIndex` on) that matches. */
  async frame<T extends ClientFrame['type']>(
    type: T,
    match: (frame: ClientFrameOf<T>, conn: FakeConnection) => boolean = () => true,
    fromIndex = 0,
  ): Promise<Received & { frame: ClientFrameOf<T> }> {
    let found: (Received & { frame: ClientFrameOf<T> }) | undefined;
    await this.until(() => {
      found = this.received
        .slice(fromIndex)
        .find(
          (r): r is Received & { frame: ClientFrameOf<T> } =>
            r.frame.type === type && match(r.frame as ClientFrameOf<T>, r.conn),
        );
      return found !== undefined;
    });
    if (!found) throw new Error('unreachable');
    return found;
  }

  framesOf<T extends ClientFrame['type']>(type: T): ClientFrameOf<T>[] {
    return this.received.filter((r) => r.frame.type === type).map((r) => r.frame as ClientFrameOf<T>);
  }

  /** A message from another user, stored and fanned out like a real one. */
  publish(room: string, text: string, from = { id: 'other', name: 'Other' }): ChatMessage {
    const message = this.store(room, from, text, `pub-${this.seq + 1}-xxxxxxxx`);
    this.fanOut(message);
    return message;
  }

  /** Stores a message without telling anyone. */
  store(room: string, from: { id: string; name: string }, text: string, clientMsgId: string): ChatMessage {
    this.seq++;
    const message: ChatMessage = {
      id: `1700000000000-${this.seq}`,
      room,
      from,
      text,
      ts: Date.now(),
      clientMsgId,
    };
    this.room(room).messages.push(message);
    this.byClientMsgId.set(clientMsgId, message);
    return message;
  }

  /** Sends the msg to the room's members with `prev`, the id before it in history, as the real server does. */
  fanOut(message: ChatMessage): void {
    const list = this.room(message.room).messages;
    const prev = list[list.indexOf(message) - 1]?.id ?? '0-0';
    for (const c of this.room(message.room).members) if (!c.silent) c.send({ type: 'msg', prev, ...message });
  }

  history(room: string): readonly ChatMessage[] {
    return this.room(room).messages;
  }

  releaseAcks(): void {
    for (const release of this.heldAcks.splice(0)) release();
  }

  /** Waits for a condition on the server's state, re-checked on every server event. */
  until(condition: () => boolean, timeoutMs = 4_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error('fake server: condition not met in time'));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }

  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) {
      room = { messages: [], members: new Set() };
      this.rooms.set(name, room);
    }
    return room;
  }

  private accept(ws: WebSocket, protocolHeader: string | undefined): void {
    const offered = String(protocolHeader ?? '')
      .split(',')
      .map((p) => p.trim());
    const token = tokenFromProtocols(offered) ?? '';
    const conn = new FakeConnection(ws, token, `conn-${++this.nextConn}`, ws.protocol);
    this.connections.push(conn);
    const ping = setInterval(() => {
      if (!conn.silent) conn.send({ type: 'ping', t: Date.now() });
    }, this.options.heartbeatMs);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.onMessage(conn, String(data));
    });
    ws.on('close', (code, reason) => {
      clearInterval(ping);
      conn.closed = { code, reason: reason.toString() };
      for (const room of conn.rooms) this.leaveRoom(conn, room);
      this.notify();
    });
    if (!this.welcomeNewConnections) {
      this.notify();
      return;
    }
    conn.send({
      type: 'welcome',
      node: this.options.node,
      connId: conn.id,
      user: conn.user,
      heartbeatMs: this.options.heartbeatMs,
      maxTextChars: this.options.maxTextChars,
      ...(this.tokenLifetimeMs === undefined ? {} : { expiresInMs: this.tokenLifetimeMs }),
    });
    this.onConnection?.(conn);
    this.notify();
  }

  private onMessage(conn: FakeConnection, raw: string): void {
    const decoded = decodeClientFrame(raw);
    if (!decoded.ok) {
      conn.send({ type: 'error', code: decoded.code, message: decoded.message });
      return;
    }
    const frame = decoded.frame;
    conn.frames.push(frame);
    this.received.push({ conn, frame, at: Date.now() });
    this.notify();
    if (conn.silent) return;
    switch (frame.type) {
      case 'ping':
        conn.send(frame.t === undefined ? { type: 'pong' } : { type: 'pong', t: frame.t });
        return;
      case 'pong':
        return;
      case 'refresh':
        if (this.acceptRefresh(frame.token)) {
          conn.send({ type: 'refreshed', expiresInMs: this.tokenLifetimeMs ?? 60_000 });
        } else conn.send({ type: 'error', code: 'bad_token', message: 'refresh refused' });
        return;
      case 'join':
        this.onJoin(conn, frame);
        return;
      case 'leave':
        this.leaveRoom(conn, frame.room);
        conn.send({ type: 'left', room: frame.room });
        return;
      case 'send':
        this.onSend(conn, frame);
        return;
    }
  }

  private onJoin(conn: FakeConnection, frame: ClientFrameOf<'join'>): void {
    if (this.forbiddenRooms.has(frame.room)) {
      conn.send({ type: 'error', code: 'forbidden_room', message: 'no entry', ref: frame.room });
      return;
    }
    const behaviour = this.joinBehaviour(frame, conn);
    if (behaviour === 'drop') return;
    if (typeof behaviour === 'object') {
      conn.send({
        type: 'error',
        code: behaviour.error,
        message: `join refused: ${behaviour.error}`,
        ref: frame.room,
        ...(behaviour.retryAfterMs === undefined ? {} : { retryAfterMs: behaviour.retryAfterMs }),
      });
      return;
    }
    const room = this.room(frame.room);
    const others = [...room.members].filter((c) => c !== conn);
    room.members.add(conn);
    conn.rooms.add(frame.room);
    const presence = [...room.members].map((c) => c.presenceEntry);
    const page = room.messages.slice(-this.options.pageSize);
    if (frame.since !== undefined && this.resyncNext) {
      this.resyncNext = false;
      conn.send({ type: 'resync', room: frame.room, reason: 'trimmed', messages: page, presence });
    } else if (frame.since !== undefined) {
      const since = frame.since;
      const after = room.messages.filter((m) => compareIds(m.id, since) > 0);
      conn.send({ type: 'joined', room: frame.room, messages: after, presence, resumed: true });
    } else {
      conn.send({ type: 'joined', room: frame.room, messages: page, presence, resumed: false });
    }
    for (const c of others)
      c.send({ type: 'presence', room: frame.room, join: [conn.presenceEntry], leave: [] });
  }

  private leaveRoom(conn: FakeConnection, name: string): void {
    const room = this.room(name);
    if (!room.members.delete(conn)) return;
    conn.rooms.delete(name);
    for (const c of room.members) c.send({ type: 'presence', room: name, join: [], leave: [conn.id] });
  }

  private onSend(conn: FakeConnection, frame: ClientFrameOf<'send'>): void {
    if (!conn.rooms.has(frame.room)) {
      conn.send({ type: 'error', code: 'not_joined', message: 'join first', ref: frame.clientMsgId });
      return;
    }
    const behaviour = this.sendBehaviour(frame, conn);
    if (behaviour === 'drop') return;
    if (typeof behaviour === 'object') {
      conn.send({
        type: 'error',
        code: behaviour.error,
        message: `refused: ${behaviour.error}`,
        ref: frame.clientMsgId,
        ...(behaviour.retryAfterMs === undefined ? {} : { retryAfterMs: behaviour.retryAfterMs }),
      });
      return;
    }
    const existing = this.byClientMsgId.get(frame.clientMsgId);
    const message = existing ?? this.store(frame.room, conn.user, frame.text, frame.clientMsgId);
    const ack = () =>
      conn.send({
        type: 'ack',
        room: frame.room,
        clientMsgId: frame.clientMsgId,
        id: message.id,
        duplicate: existing !== undefined,
      });
    if (behaviour === 'store-silently') return;
    if (behaviour === 'ack-first') ack();
    if (!existing) this.fanOut(message);
    if (behaviour === 'ack') ack();
    if (behaviour === 'hold') this.heldAcks.push(ack);
  }
}
