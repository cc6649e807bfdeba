import {
  type ChatMessage,
  type ClientFrame,
  CloseCode,
  closeInfo,
  decodeServerFrame,
  encodeFrame,
  handshakeProtocols,
  MAX_TEXT_CHARS,
  type ServerFrame,
  type ServerFrameOf,
} from '@chat/protocol';
import { type BackoffOptions, DEFAULT_BACKOFF, planReconnect } from './backoff.js';
import { Emitter, type Listener } from './emitter.js';
import { browserEnvironment, type ClientEnvironment } from './environment.js';
import { RoomStore } from './room-store.js';
import {
  ChatClientError,
  type ChatClientEvents,
  type ChatClientOptions,
  type ClientErrorCode,
  type ConnectionState,
  type ConnectionStatus,
  type JoinResult,
  type PendingMessage,
  type RoomSnapshot,
  type SendHandle,
  type SendResult,
  type Timers,
  type WebSocketConstructor,
  type WebSocketLike,
} from './types.js';

interface Settings {
  url: string;
  getToken: ChatClientOptions['getToken'];
  WebSocket: WebSocketConstructor | undefined;
  backoff: BackoffOptions;
  heartbeatGrace: number;
  watchdogMs: number | undefined;
  connectTimeoutMs: number;
  healthyAfterMs: number;
  ackTimeoutMs: number;
  sendRetryMs: number;
  history: number;
  dedupeWindow: number;
  random: () => number;
  now: () => number;
  timers: Timers;
  environment: ClientEnvironment | undefined;
  createId: () => string;
}

interface OutboxEntry {
  clientMsgId: string;
  room: string;
  text: string;
  createdAt: number;
  status: PendingMessage['status'];
  sends: number;
  error?: PendingMessage['error'];
  /** Not sent again before this time (rate limited, storage unavailable). */
  notBefore: number;
  timer: unknown;
  resolve: (result: SendResult) => void;
  reject: (error: ChatClientError) => void;
}

interface JoinWaiter {
  resolve: (result: JoinResult) => void;
  reject: (error: ChatClientError) => void;
}

/** Send-error codes after which the same clientMsgId is sent again later. */
const RETRYABLE_SEND_ERRORS = new Set<string>(['unavailable', 'rate_limited', 'not_joined', 'internal']);
/** Join-error codes after which the room is given up. */
const FATAL_JOIN_ERRORS = new Set<string>(['forbidden_room', 'too_many_rooms', 'bad_frame']);

const defaultTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};

/**
 * A reconnecting chat client. It keeps one WebSocket open while `connect()`ed, re-opens it with
 * full-jitter exponential backoff (and per close code, see packages/protocol close-codes), detects
 * dead sockets with an application-level heartbeat watchdog, re-joins every room with the last id
 * it saw, drops duplicate messages, and keeps unacknowledged sends in an outbox that is flushed,
 * with the same clientMsgId, once the room is joined again.
 */
export class ChatClient {
  private readonly settings: Settings;
  private readonly emitter = new Emitter<ChatClientEvents>();
  private readonly roomStores = new Map<string, RoomStore>();
  private readonly joinWaiters = new Map<string, JoinWaiter[]>();
  private readonly outbox = new Map<string, OutboxEntry>();
  private readonly snapshots = new Map<string, { version: number; snapshot: RoomSnapshot }>();
  private roomList: readonly string[] = [];

  private wanted = false;
  private socket: WebSocketLike | undefined;
  /** Raised for every attempt; events of older sockets and token requests are ignored. */
  private generation = 0;
  private attempt = 0;
  private failedBeforeOpen = 0;
  private refreshToken = false;
  private online = true;
  private statusValue: ConnectionStatus = { state: 'closed', attempt: 0, online: true };
  private welcomeFrame: ServerFrameOf<'welcome'> | undefined;
  private lastFrameAt = 0;
  private retryTimer: unknown;
  private connectTimer: unknown;
  private healthyTimer: unknown;
  private watchdogTimer: unknown;
  private unsubscribeEnvironment: (() => void) | undefined;

  constructor(options: ChatClientOptions) {
    const environment =
      options.environment === null ? undefined : (options.environment ?? browserEnvironment());
    this.settings = {
      url: options.url,
      getToken: options.getToken,
      WebSocket: options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      heartbeatGrace: options.heartbeatGrace ?? 2,
      watchdogMs: options.watchdogMs,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      healthyAfterMs: options.healthyAfterMs ?? 10_000,
      ackTimeoutMs: options.ackTimeoutMs ?? 10_000,
      sendRetryMs: options.sendRetryMs ?? 1_000,
      history: Math.max(0, options.history ?? 500),
      dedupeWindow: Math.max(1, options.dedupeWindow ?? 1_000),
      random: options.random ?? Math.random,
      now: options.now ?? Date.now,
      timers: options.timers ?? defaultTimers,
      environment,
      createId: options.createId ?? randomId,
    };
    this.online = environment?.isOnline() ?? true;
    this.statusValue = { state: 'closed', attempt: 0, online: this.online };
  }

  // ---- public surface ----------------------------------------------------------------------

  on<K extends keyof ChatClientEvents>(event: K, listener: Listener<ChatClientEvents[K]>): () => void {
    return this.emitter.on(event, listener);
  }

  off<K extends keyof ChatClientEvents>(event: K, listener: Listener<ChatClientEvents[K]>): void {
    this.emitter.off(event, listener);
  }

  get state(): ConnectionState {
    return this.statusValue.state;
  }

  /** The current connection status; a new object on every change (usable as a React snapshot). */
  get status(): ConnectionStatus {
    return this.statusValue;
  }

  /** The `welcome` of the current connection, undefined while not open. */
  get welcome(): ServerFrameOf<'welcome'> | undefined {
    return this.welcomeFrame;
  }

  /** Rooms this client is in (or re-joining), in the order they were joined. */
  get rooms(): readonly string[] {
    return this.roomList;
  }

  /** Starts connecting (and keeps reconnecting) until `close()` or a stay-closed close code. */
  connect(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.attempt = 0;
    this.failedBeforeOpen = 0;
    this.refreshToken = false;
    this.attachEnvironment();
    void this.startAttempt();
  }

  /** Closes for good (code 1000). Queued messages stay queued for a later `connect()`. */
  close(reason = 'client closed'): void {
    this.wanted = false;
    this.generation++;
    this.detachEnvironment();
    this.clearConnectionTimers();
    this.clearTimer('retryTimer');
    const socket = this.socket;
    this.socket = undefined;
    if (socket) closeQuietly(socket, CloseCode.Normal, reason);
    this.onDisconnected();
    this.setStatus({ state: 'closed', code: CloseCode.Normal, reason, attempt: this.attempt });
  }

  /**
   * Joins a room now and after every reconnect (with `since` = the last id seen). Resolves on the
   * first `joined`/`resync`; rejects if the server refuses the room (the room is then dropped).
   */
  join(room: string): Promise<JoinResult> {
    const promise = new Promise<JoinResult>((resolve, reject) => {
      const store = this.roomStores.get(room);
      if (store?.joined) {
        resolve({ room, resumed: true, resync: false });
        return;
      }
      const waiters = this.joinWaiters.get(room) ?? [];
      waiters.push({ resolve, reject });
      this.joinWaiters.set(room, waiters);
      if (!store) {
        this.roomStores.set(room, new RoomStore(room, this.settings));
        this.roomsChanged();
        if (this.isOpen()) this.sendJoin(room);
      }
    });
    return handled(promise);
  }

  /** Leaves a room: no more resume for it; its pending messages are rejected with code 'left'. */
  leave(room: string): void {
    if (!this.roomStores.delete(room)) return;
    this.snapshots.delete(room);
    if (this.isOpen()) this.transmit({ type: 'leave', room });
    this.rejectJoin(room, new ChatClientError('left', `left #${room}`, room));
    for (const entry of [...this.outbox.values()]) {
      if (entry.room === room) this.failEntry(entry, 'left', `left #${room}`, true);
    }
    this.roomsChanged();
    this.emitter.emit('room', { room });
  }

  /**
   * Sends `text` to a joined room. It is queued while disconnected and (re)sent with the same
   * clientMsgId until acknowledged. The returned promise resolves on the ack.
   */
  send(room: string, text: string): SendHandle {
    const clientMsgId = this.settings.createId();
    const maxChars = this.welcomeFrame?.maxTextChars ?? MAX_TEXT_CHARS;
    let early: ChatClientError | undefined;
    if (!this.roomStores.has(room)) early = new ChatClientError('not_joined', `not in #${room}`, clientMsgId);
    else if (text.length === 0) early = new ChatClientError('bad_frame', 'empty message', clientMsgId);
    else if (text.length > maxChars)
      early = new ChatClientError('text_too_long', `longer than ${maxChars} characters`, clientMsgId);

    const promise = new Promise<SendResult>((resolve, reject) => {
      if (early) {
        reject(early);
        return;
      }
      this.outbox.set(clientMsgId, {
        clientMsgId,
        room,
        text,
        createdAt: this.settings.now(),
        status: 'queued',
        sends: 0,
        notBefore: 0,
        timer: undefined,
        resolve,
        reject,
      });
    });
    if (!early) {
      this.touch(room);
      this.flushRoom(room);
    }
    return Object.assign(handled(promise), { clientMsgId });
  }

  /** Sends a failed message again (same clientMsgId). Its original promise has already settled. */
  retry(clientMsgId: string): SendHandle | undefined {
    const entry = this.outbox.get(clientMsgId);
    if (entry?.status !== 'failed') return undefined;
    this.outbox.delete(clientMsgId);
    const promise = new Promise<SendResult>((resolve, reject) => {
      this.outbox.set(clientMsgId, {
        ...entry,
        status: 'queued',
        error: undefined,
        notBefore: 0,
        timer: undefined,
        resolve,
        reject,
      });
    });
    this.touch(entry.room);
    this.flushRoom(entry.room);
    return Object.assign(handled(promise), { clientMsgId });
  }

  /** Forgets a pending or failed message (a pending one is rejected with code 'left'). */
  discard(clientMsgId: string): void {
    const entry = this.outbox.get(clientMsgId);
    if (entry) this.failEntry(entry, 'left', 'discarded', true);
  }

  /** A stable snapshot of a room (the same object until something in the room changes). */
  getRoom(room: string): RoomSnapshot | undefined {
    const store = this.roomStores.get(room);
    if (!store) return undefined;
    const cached = this.snapshots.get(room);
    if (cached && cached.version === store.version) return cached.snapshot;
    const pending: PendingMessage[] = [];
    for (const e of this.outbox.values()) {
      if (e.room !== room) continue;
      pending.push({
        clientMsgId: e.clientMsgId,
        room: e.room,
        text: e.text,
        createdAt: e.createdAt,
        status: e.status,
        sends: e.sends,
        ...(e.error ? { error: e.error } : {}),
      });
    }
    const snapshot: RoomSnapshot = {
      room,
      joined: store.joined,
      messages: store.messages,
      pending,
      presence: store.presence(),
      users: store.users(),
      ...(store.lastId === undefined ? {} : { lastId: store.lastId }),
    };
    this.snapshots.set(room, { version: store.version, snapshot });
    return snapshot;
  }

  /** All unacknowledged messages (every room), oldest first. */
  pending(): PendingMessage[] {
    return this.roomList.flatMap((room) => this.getRoom(room)?.pending ?? []);
  }

  /** Sends an application ping; any answer feeds the watchdog. */
  ping(): void {
    if (this.isOpen()) this.transmit({ type: 'ping', t: this.settings.now() });
  }

  // ---- connection lifecycle ----------------------------------------------------------------

  private async startAttempt(): Promise<void> {
    this.clearTimer('retryTimer');
    if (!this.wanted) return;
    if (!this.online) {
      this.waitForNetwork();
      return;
    }
    const generation = ++this.generation;
    this.setStatus({
      state: 'connecting',
      attempt: this.attempt,
      ...carry(this.statusValue),
    });

    let token: string;
    try {
      token = await this.settings.getToken({
        forceRefresh: this.refreshToken,
        attempt: this.attempt,
        failedBeforeOpen: this.failedBeforeOpen,
      });
    } catch (err) {
      if (generation !== this.generation) return;
      this.handleClose(CloseCode.Abnormal, `could not get a token: ${errorMessage(err)}`);
      return;
    }
    if (generation !== this.generation || !this.wanted) return;
    this.refreshToken = false;

    const Ctor = this.settings.WebSocket;
    let socket: WebSocketLike;
    try {
      if (!Ctor) throw new Error('no WebSocket implementation: pass options.WebSocket');
      socket = new Ctor(this.settings.url, handshakeProtocols(token));
    } catch (err) {
      this.handleClose(CloseCode.Abnormal, errorMessage(err));
      return;
    }
    this.socket = socket;
    socket.onmessage = (event: { data: unknown }) => {
      if (generation === this.generation) this.onData(event.data);
    };
    socket.onclose = (event: { code: number; reason: string }) => {
      if (generation !== this.generation) return;
      this.socket = undefined;
      this.handleClose(event.code || CloseCode.Abnormal, event.reason ?? '');
    };
    // An error is always followed by a close event, which is where the client reacts.
    socket.onerror = () => {};
    this.connectTimer = this.settings.timers.setTimeout(() => {
      if (generation === this.generation) this.dropSocket('connect timeout');
    }, this.settings.connectTimeoutMs);
  }

  /** Gives up on the current socket without waiting for a close handshake (dead or stuck). */
  private dropSocket(reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    this.generation++;
    if (socket) terminate(socket);
    this.handleClose(CloseCode.Abnormal, reason);
  }

  private handleClose(code: number, rawReason: string): void {
    if (this.welcomeFrame === undefined) this.failedBeforeOpen++;
    this.clearConnectionTimers();
    this.onDisconnected();
    if (!this.wanted) return;
    const plan = planReconnect(code, rawReason, this.attempt, this.settings.backoff, this.settings.random);
    const reason = plan.message || closeInfo(code)?.meaning || `closed with code ${code}`;
    if (plan.action === 'stay-closed') {
      this.wanted = false;
      this.detachEnvironment();
      this.setStatus({ state: 'closed', code, reason, action: plan.action, attempt: this.attempt });
      return;
    }
    this.attempt = plan.nextAttempt;
    if (plan.refreshToken) this.refreshToken = true;
    if (!this.online) {
      this.waitForNetwork({ code, reason, action: plan.action });
      return;
    }
    const retryAt = this.settings.now() + plan.delayMs;
    this.retryTimer = this.settings.timers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.startAttempt();
    }, plan.delayMs);
    this.setStatus({
      state: 'reconnecting',
      code,
      reason,
      action: plan.action,
      retryAt,
      retryInMs: plan.delayMs,
      attempt: this.attempt,
    });
  }

  /** Offline: no timer, no attempts; the `online` event starts the next attempt at once. */
  private waitForNetwork(cause: Pick<ConnectionStatus, 'code' | 'reason' | 'action'> = {}): void {
    this.clearTimer('retryTimer');
    this.setStatus({
      state: 'reconnecting',
      ...carry(this.statusValue),
      ...cause,
      reason: cause.reason ? `offline (${cause.reason})` : 'offline',
      attempt: this.attempt,
    });
  }

  /** Common bookkeeping whenever the socket is gone, whatever the reason. */
  private onDisconnected(): void {
    this.welcomeFrame = undefined;
    for (const store of this.roomStores.values()) {
      if (store.joined) {
        store.joined = false;
        store.version++;
      }
    }
    for (const entry of this.outbox.values()) {
      if (entry.status === 'sending') {
        entry.status = 'queued';
        this.clearEntryTimer(entry);
        this.touch(entry.room);
      }
    }
    for (const room of this.roomList) this.emitter.emit('room', { room });
  }

  private onWelcome(frame: ServerFrameOf<'welcome'>): void {
    this.clearTimer('connectTimer');
    this.welcomeFrame = frame;
    this.failedBeforeOpen = 0;
    this.armWatchdog();
    this.clearTimer('healthyTimer');
    this.healthyTimer = this.settings.timers.setTimeout(() => {
      this.healthyTimer = undefined;
      this.attempt = 0;
      this.setStatus({ ...this.statusValue, attempt: 0 });
    }, this.settings.healthyAfterMs);
    this.setStatus({ state: 'open', attempt: this.attempt, node: frame.node, user: frame.user });
    this.emitter.emit('welcome', frame);
    for (const room of this.roomStores.keys()) this.sendJoin(room);
  }

  private watchdogTimeout(): number {
    const heartbeat = this.welcomeFrame?.heartbeatMs ?? 30_000;
    return this.settings.watchdogMs ?? heartbeat * this.settings.heartbeatGrace;
  }

  /** One timer per socket, re-armed for the remaining time rather than reset on every frame. */
  private armWatchdog(): void {
    this.clearTimer('watchdogTimer');
    const timeout = this.watchdogTimeout();
    const due = Math.max(0, this.lastFrameAt + timeout - this.settings.now());
    this.watchdogTimer = this.settings.timers.setTimeout(() => {
      this.watchdogTimer = undefined;
      if (!this.isOpen()) return;
      if (this.settings.now() - this.lastFrameAt >= timeout) this.dropSocket('heartbeat timeout');
      else this.armWatchdog();
    }, due);
  }

  // ---- frames --------------------------------------------------------------------------------

  private onData(data: unknown): void {
    if (typeof data !== 'string') return;
    this.lastFrameAt = this.settings.now();
    const decoded = decodeServerFrame(data);
    if (!decoded.ok) {
      this.emitter.emit('invalidFrame', { raw: data, message: decoded.message });
      return;
    }
    this.onFrame(decoded.frame);
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome':
        this.onWelcome(frame);
        return;
      case 'ping':
        this.transmit(frame.t === undefined ? { type: 'pong' } : { type: 'pong', t: frame.t });
        return;
      case 'pong':
        return;
      case 'joined':
        this.onJoined(frame, frame.messages, false);
        this.emitter.emit('joined', frame);
        return;
      case 'resync':
        this.onJoined(frame, frame.messages, true);
        this.emitter.emit('resync', frame);
        return;
      case 'left':
        this.emitter.emit('left', frame);
        return;
      case 'msg': {
        const { type: _type, ...message } = frame;
        const store = this.roomStores.get(message.room);
        if (!store) return;
        store.observe(message.id);
        this.receive(store, message);
        this.emitter.emit('room', { room: message.room });
        return;
      }
      case 'ack':
        this.onAck(frame);
        return;
      case 'presence': {
        const store = this.roomStores.get(frame.room);
        if (!store) return;
        store.applyPresence(frame.join, frame.leave);
        this.emitPresence(store);
        this.emitter.emit('room', { room: frame.room });
        return;
      }
      case 'error':
        this.onError(frame);
        return;
    }
  }

  private onJoined(
    frame: ServerFrameOf<'joined'> | ServerFrameOf<'resync'>,
    messages: readonly ChatMessage[],
    resync: boolean,
  ): void {
    const store = this.roomStores.get(frame.room);
    if (!store) return;
    if (resync) store.reset();
    for (const m of messages) {
      store.observe(m.id);
      this.receive(store, m);
    }
    store.setPresence(frame.presence);
    store.joined = true;
    store.version++;
    this.emitPresence(store);
    const waiters = this.joinWaiters.get(frame.room);
    this.joinWaiters.delete(frame.room);
    const resumed = frame.type === 'joined' && frame.resumed;
    for (const w of waiters ?? []) w.resolve({ room: frame.room, resumed, resync });
    this.emitter.emit('room', { room: frame.room });
    this.flushRoom(frame.room);
  }

  /** A message from the server's ordered stream: settle our own pending send, then de-duplicate. */
  private receive(store: RoomStore, message: ChatMessage): void {
    const own = this.outbox.get(message.clientMsgId);
    if (own && own.room === message.room && message.from.id === this.welcomeFrame?.user.id) {
      // The stream only carries durable messages: this is as good as the ack.
      this.settle(own, { clientMsgId: own.clientMsgId, room: own.room, id: message.id, duplicate: false });
    }
    if (store.accept(message)) this.emitter.emit('message', message);
  }

  private onAck(frame: ServerFrameOf<'ack'>): void {
    const entry = this.outbox.get(frame.clientMsgId);
    const store = this.roomStores.get(frame.room);
    if (entry && store && this.welcomeFrame) {
      // Show the message right away under its id; its own `msg` may arrive later (then dropped as a
      // duplicate). It does not move lastId: the stream may still deliver earlier ids.
      const message: ChatMessage = {
        id: frame.id,
        room: frame.room,
        from: this.welcomeFrame.user,
        text: entry.text,
        ts: this.settings.now(),
        clientMsgId: frame.clientMsgId,
      };
      if (store.accept(message)) this.emitter.emit('message', message);
    }
    if (entry) {
      this.settle(entry, {
        clientMsgId: frame.clientMsgId,
        room: frame.room,
        id: frame.id,
        duplicate: frame.duplicate,
      });
      this.emitter.emit('room', { room: frame.room });
    }
    this.emitter.emit('ack', frame);
  }

  private onError(frame: ServerFrameOf<'error'>): void {
    const ref = frame.ref;
    const entry = ref === undefined ? undefined : this.outbox.get(ref);
    if (entry) {
      if (RETRYABLE_SEND_ERRORS.has(frame.code)) {
        this.clearEntryTimer(entry);
        entry.status = 'queued';
        entry.notBefore = this.settings.now() + (frame.retryAfterMs ?? this.settings.sendRetryMs);
        this.touch(entry.room);
        this.emitter.emit('room', { room: entry.room });
        this.flushRoom(entry.room);
      } else {
        this.failEntry(entry, frame.code, frame.message, false);
      }
    } else if (ref !== undefined && FATAL_JOIN_ERRORS.has(frame.code)) {
      const store = this.roomStores.get(ref);
      if (store && !store.joined) {
        this.roomStores.delete(ref);
        this.snapshots.delete(ref);
        const error = new ChatClientError(frame.code, frame.message, ref);
        this.rejectJoin(ref, error);
        for (const e of [...this.outbox.values()]) {
          if (e.room === ref) this.failEntry(e, frame.code, frame.message, true);
        }
        this.roomsChanged();
        this.emitter.emit('room', { room: ref });
      }
    }
    this.emitter.emit('error', frame);
  }

  // ---- sending -------------------------------------------------------------------------------

  private sendJoin(room: string): void {
    const since = this.roomStores.get(room)?.lastId;
    this.transmit(since === undefined ? { type: 'join', room } : { type: 'join', room, since });
  }

  /** Sends what is due in a room, oldest first; a message that must wait holds back the later ones. */
  private flushRoom(room: string): void {
    const store = this.roomStores.get(room);
    if (!store?.joined || !this.isOpen()) return;
    const now = this.settings.now();
    let changed = false;
    for (const entry of this.outbox.values()) {
      if (entry.room !== room || entry.status === 'failed' || entry.status === 'sending') continue;
      if (entry.notBefore > now) {
        if (entry.timer === undefined) {
          entry.timer = this.settings.timers.setTimeout(() => {
            entry.timer = undefined;
            this.flushRoom(room);
          }, entry.notBefore - now);
        }
        break;
      }
      this.clearEntryTimer(entry);
      if (!this.transmit({ type: 'send', room, clientMsgId: entry.clientMsgId, text: entry.text })) break;
      entry.status = 'sending';
      entry.sends++;
      changed = true;
      entry.timer = this.settings.timers.setTimeout(() => {
        entry.timer = undefined;
        if (entry.status !== 'sending') return;
        entry.status = 'queued';
        this.touch(room);
        this.flushRoom(room);
      }, this.settings.ackTimeoutMs);
    }
    if (changed) {
      this.touch(room);
      this.emitter.emit('room', { room });
    }
  }

  private transmit(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (socket?.readyState !== 1) return false;
    try {
      socket.send(encodeFrame(frame));
      return true;
    } catch {
      return false;
    }
  }

  private settle(entry: OutboxEntry, result: SendResult): void {
    this.clearEntryTimer(entry);
    this.outbox.delete(entry.clientMsgId);
    this.touch(entry.room);
    entry.resolve(result);
  }

  private failEntry(entry: OutboxEntry, code: ClientErrorCode, message: string, remove: boolean): void {
    this.clearEntryTimer(entry);
    if (remove) this.outbox.delete(entry.clientMsgId);
    else {
      entry.status = 'failed';
      entry.error = { code, message };
    }
    this.touch(entry.room);
    entry.reject(new ChatClientError(code, message, entry.clientMsgId));
    this.emitter.emit('room', { room: entry.room });
  }

  // ---- helpers -------------------------------------------------------------------------------

  private isOpen(): boolean {
    return this.statusValue.state === 'open' && this.socket !== undefined;
  }

  private emitPresence(store: RoomStore): void {
    this.emitter.emit('presence', { room: store.name, entries: store.presence(), users: store.users() });
  }

  private rejectJoin(room: string, error: ChatClientError): void {
    const waiters = this.joinWaiters.get(room);
    this.joinWaiters.delete(room);
    for (const w of waiters ?? []) w.reject(error);
  }

  private touch(room: string): void {
    const store = this.roomStores.get(room);
    if (store) store.version++;
  }

  private roomsChanged(): void {
    this.roomList = [...this.roomStores.keys()];
    this.emitter.emit('rooms', this.roomList);
  }

  private setStatus(next: Omit<ConnectionStatus, 'online'>): void {
    const previous = this.statusValue.state;
    this.statusValue = { ...next, online: this.online };
    this.emitter.emit('state', { ...this.statusValue, previous });
  }

  private clearTimer(name: 'retryTimer' | 'connectTimer' | 'healthyTimer' | 'watchdogTimer'): void {
    const handle = this[name];
    if (handle !== undefined) this.settings.timers.clearTimeout(handle);
    this[name] = undefined;
  }

  private clearConnectionTimers(): void {
    this.clearTimer('connectTimer');
    this.clearTimer('healthyTimer');
    this.clearTimer('watchdogTimer');
  }

  private clearEntryTimer(entry: OutboxEntry): void {
    if (entry.timer !== undefined) this.settings.timers.clearTimeout(entry.timer);
    entry.timer = undefined;
  }

  // ---- environment ---------------------------------------------------------------------------

  private attachEnvironment(): void {
    const env = this.settings.environment;
    if (!env || this.unsubscribeEnvironment) return;
    this.online = env.isOnline();
    this.unsubscribeEnvironment = env.subscribe({
      online: () => this.onOnline(),
      offline: () => this.onOffline(),
      visible: () => this.onVisible(),
    });
  }

  private detachEnvironment(): void {
    this.unsubscribeEnvironment?.();
    this.unsubscribeEnvironment = undefined;
  }

  private onOnline(): void {
    this.online = true;
    if (!this.wanted) return;
    if (this.statusValue.state === 'reconnecting') void this.startAttempt();
    else {
      this.setStatus({ ...this.statusValue });
      this.ping();
    }
  }

  private onOffline(): void {
    this.online = false;
    if (!this.wanted) return;
    // A waiting retry would only fail: wait for `online` instead. An open socket may survive a
    // short blip, so it is left to the watchdog.
    if (this.statusValue.state === 'reconnecting') this.waitForNetwork(pickCause(this.statusValue));
    else this.setStatus({ ...this.statusValue });
  }

  private onVisible(): void {
    if (!this.wanted) return;
    const { state, retryAt } = this.statusValue;
    if (state === 'open') {
      // Timers are throttled in hidden pages: the watchdog may be late, so check it now.
      if (this.settings.now() - this.lastFrameAt >= this.watchdogTimeout())
        this.dropSocket('heartbeat timeout');
      else this.ping();
    } else if (state === 'reconnecting' && retryAt !== undefined && retryAt <= this.settings.now()) {
      void this.startAttempt();
    }
  }
}

/** Keeps the cause of the last disconnect visible while the next attempt is in progress. */
function carry(status: ConnectionStatus): Pick<ConnectionStatus, 'code' | 'reason' | 'action'> {
  return status.state === 'open' || status.state === 'closed' ? {} : pickCause(status);
}

function pickCause(status: ConnectionStatus): Pick<ConnectionStatus, 'code' | 'reason' | 'action'> {
  const out: Pick<ConnectionStatus, 'code' | 'reason' | 'action'> = {};
  if (status.code !== undefined) out.code = status.code;
  if (status.reason !== undefined) out.reason = status.reason.replace(/^offline \((.*)\)$/, '$1');
  if (status.action !== undefined) out.action = status.action;
  return out;
}

/** Marks a promise as handled so an ignored rejection is not reported; awaiting it still throws. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function closeQuietly(socket: WebSocketLike, code: number, reason: string): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = () => {};
  try {
    socket.close(code, reason);
  } catch {
    // Already closing, or still connecting in an implementation that refuses close() then.
  }
}

/** Drops a socket at once: `ws` has terminate(); a browser socket only has close(). */
function terminate(socket: WebSocketLike): void {
  const withTerminate = socket as WebSocketLike & { terminate?: () => void };
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = () => {};
  try {
    if (typeof withTerminate.terminate === 'function') withTerminate.terminate();
    else socket.close();
  } catch {
    // Nothing more to do: the socket is abandoned either way.
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** crypto.randomUUID needs a secure context; getRandomValues does not. */
function randomId(): string {
  const c = (
    globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } }
  ).crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof c?.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
