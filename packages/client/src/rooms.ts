import { type ChatMessage, compareIds, type ServerFrameOf, ZERO_ID } from '@chat/protocol';
import { hintedDelay } from './backoff.js';
import type { Emitter } from './emitter.js';
import type { FrameSender } from './link.js';
import { RoomStore } from './room-store.js';
import type { Settings } from './settings.js';
import {
  ChatClientError,
  type ChatClientEvents,
  type ClientErrorCode,
  type JoinResult,
  type PendingMessage,
  type RoomSnapshot,
} from './types.js';

interface JoinWaiter {
  resolve: (result: JoinResult) => void;
  reject: (error: ChatClientError) => void;
}

/** What rooms need of the outbox (Outbox): the pending sends of a room, and when to flush or fail them. */
export interface RoomsOutbox {
  pendingIn(room: string): PendingMessage[];
  /** A message from the server's ordered stream: our own settles its send. */
  settleFromStream(message: ChatMessage): void;
  /** The room is joined: its queued messages may go. */
  flushRoom(room: string): void;
  /** The client is no longer in the room: its messages fail with `code`. */
  failRoom(room: string, code: ClientErrorCode, message: string): void;
}

/** Join-error codes after which the room is given up. */
const FATAL_JOIN_ERRORS = new Set<string>(['forbidden_room', 'too_many_rooms', 'bad_frame']);
/** Join-error codes after which the join is asked again on the same socket. */
const RETRYABLE_JOIN_ERRORS = new Set<string>(['unavailable', 'rate_limited', 'busy', 'internal']);

interface JoinRetry {
  timer: unknown;
  /** Refusals in a row on this socket; without a server hint the wait doubles with each. */
  refusals: number;
}

/**
 * The rooms the client is in: joining and re-joining them (with `since` = the last id seen),
 * their messages, presence and snapshots. A room stays here across reconnects until `leave()` or
 * a refusal for good. It alone creates and changes the rooms' stores; the outbox asks it.
 */
export class Rooms {
  private readonly stores = new Map<string, RoomStore>();
  private readonly waiters = new Map<string, JoinWaiter[]>();
  private readonly snapshots = new Map<string, { version: number; snapshot: RoomSnapshot }>();
  private readonly retries = new Map<string, JoinRetry>();
  private names: readonly string[] = [];

  constructor(
    private readonly settings: Settings,
    private readonly emitter: Emitter<ChatClientEvents>,
    private readonly sender: FrameSender,
    private readonly outbox: RoomsOutbox,
  ) {}

  /** In join order; a new array on every change. */
  get list(): readonly string[] {
    return this.names;
  }

  /** The client is in the room (joined, or joining / re-joining). */
  has(room: string): boolean {
    return this.stores.has(room);
  }

  /** Joined on the current connection. */
  isJoined(room: string): boolean {
    return this.stores.get(room)?.joined ?? false;
  }

  /** Our own acknowledged message, shown at once; its `msg` from the stream is then a duplicate. */
  showOwn(message: ChatMessage): void {
    if (this.stores.get(message.room)?.accept(message)) this.emitter.emit('message', message);
  }

  /** The room's pending messages changed: the next snapshot is built afresh. */
  pendingChanged(room: string): void {
    this.snapshots.delete(room);
  }

  join(room: string): Promise<JoinResult> {
    return new Promise<JoinResult>((resolve, reject) => {
      const store = this.stores.get(room);
      if (store?.joined) {
        resolve({ room, resumed: true, resync: false });
        return;
      }
      const waiters = this.waiters.get(room) ?? [];
      waiters.push({ resolve, reject });
      this.waiters.set(room, waiters);
      if (!store) {
        this.stores.set(room, new RoomStore(room, this.settings));
        this.listChanged();
        if (this.sender.isOpen()) this.sendJoin(room);
      }
    });
  }

  leave(room: string): void {
    if (!this.stores.delete(room)) return;
    this.snapshots.delete(room);
    this.stopRetry(room);
    if (this.sender.isOpen()) this.sender.transmit({ type: 'leave', room });
    this.rejectJoin(room, new ChatClientError('left', `left #${room}`, room));
    this.outbox.failRoom(room, 'left', `left #${room}`);
    this.listChanged();
    this.emitter.emit('room', { room });
  }

  /** The same object until something in the room changes (fits useSyncExternalStore). */
  snapshot(room: string): RoomSnapshot | undefined {
    const store = this.stores.get(room);
    if (!store) return undefined;
    const cached = this.snapshots.get(room);
    if (cached && cached.version === store.version) return cached.snapshot;
    const snapshot: RoomSnapshot = {
      room,
      joined: store.joined,
      messages: store.messages,
      pending: this.outbox.pendingIn(room),
      presence: store.presence(),
      users: store.users(),
      ...(store.lastId === undefined ? {} : { lastId: store.lastId }),
    };
    this.snapshots.set(room, { version: store.version, snapshot });
    return snapshot;
  }

  /** A new connection is open: every room is joined again, resuming after its last id. */
  rejoinAll(): void {
    for (const room of this.stores.keys()) this.sendJoin(room);
  }

  /** Joins belong to a connection: after a disconnect no room is joined until it is re-joined. */
  markDisconnected(): void {
    // The next socket re-joins every room anyway, and its refusals start from scratch.
    for (const room of [...this.retries.keys()]) this.stopRetry(room);
    for (const store of this.stores.values()) store.setJoined(false);
  }

  notifyAll(): void {
    for (const room of this.names) this.emitter.emit('room', { room });
  }

  onJoined(frame: ServerFrameOf<'joined'> | ServerFrameOf<'resync'>, resync: boolean): void {
    const store = this.stores.get(frame.room);
    if (!store) return;
    if (resync) store.reset();
    for (const m of frame.messages) {
      store.observe(m.id);
      this.receive(store, m);
    }
    store.setPresence(frame.presence);
    store.setJoined(true);
    this.stopRetry(frame.room);
    this.emitPresence(store);
    const waiters = this.waiters.get(frame.room);
    this.waiters.delete(frame.room);
    const resumed = frame.type === 'joined' && frame.resumed;
    for (const w of waiters ?? []) w.resolve({ room: frame.room, resumed, resync });
    this.emitter.emit('room', { room: frame.room });
    this.outbox.flushRoom(frame.room);
  }

  /**
   * A live message. `prev` is the id before it in the room's history: when that is not the last
   * id we have, we were handed a hole (the server proves the chain, so this is a safety net):
   * the message is not shown, the room is joined again with `since` and the replay fills it.
   */
  onMessage(message: ChatMessage, prev?: string): void {
    const store = this.stores.get(message.room);
    // Not joined: a re-join is in flight and its replay brings this message too.
    if (!store?.joined) return;
    const last = store.lastId ?? ZERO_ID;
    if (prev !== undefined && prev !== last && compareIds(message.id, last) > 0) {
      this.emitter.emit('gap', { room: message.room, id: message.id, prev, lastId: last });
      store.setJoined(false);
      if (this.sender.isOpen()) this.sendJoin(message.room);
      return;
    }
    store.observe(message.id);
    this.receive(store, message);
    this.emitter.emit('room', { room: message.room });
  }

  onPresence(frame: ServerFrameOf<'presence'>): void {
    const store = this.stores.get(frame.room);
    if (!store) return;
    store.applyPresence(frame.join, frame.leave);
    this.emitPresence(store);
    this.emitter.emit('room', { room: frame.room });
  }

  /** An error frame whose `ref` may name a room we are joining. */
  onJoinError(frame: ServerFrameOf<'error'>): void {
    const room = frame.ref;
    if (room === undefined) return;
    const store = this.stores.get(room);
    if (!store || store.joined) return;
    if (RETRYABLE_JOIN_ERRORS.has(frame.code)) this.retryJoin(room, frame.retryAfterMs);
    else if (FATAL_JOIN_ERRORS.has(frame.code)) this.drop(room, frame);
  }

  /** A refused room is given up: its join and its pending messages fail with the server's code. */
  private drop(room: string, frame: ServerFrameOf<'error'>): void {
    this.stores.delete(room);
    this.snapshots.delete(room);
    this.stopRetry(room);
    this.rejectJoin(room, new ChatClientError(frame.code, frame.message, room));
    this.outbox.failRoom(room, frame.code, frame.message);
    this.listChanged();
    this.emitter.emit('room', { room });
  }

  /** A message from the server's ordered stream: settle our own pending send, then de-duplicate. */
  private receive(store: RoomStore, message: ChatMessage): void {
    this.outbox.settleFromStream(message);
    if (store.accept(message)) this.emitter.emit('message', message);
  }

  /**
   * The server could not serve the join just now (its storage is down, or a limit): the socket is
   * fine, so the join is asked again on it rather than left until a reconnect that may not come.
   * The join promise stays pending meanwhile.
   */
  private retryJoin(room: string, retryAfterMs: number | undefined): void {
    const retry = this.retries.get(room) ?? { timer: undefined, refusals: 0 };
    // One join in flight per room: a second refusal before the retry went out changes nothing.
    if (retry.timer !== undefined) return;
    retry.refusals++;
    const { backoff, sendRetryMs } = this.settings;
    const wait = retryAfterMs ?? Math.min(backoff.capMs, sendRetryMs * 2 ** (retry.refusals - 1));
    retry.timer = this.settings.timers.setTimeout(
      () => {
        retry.timer = undefined;
        const store = this.stores.get(room);
        if (store && !store.joined && this.sender.isOpen()) this.sendJoin(room);
      },
      hintedDelay(wait, backoff, this.settings.random),
    );
    this.retries.set(room, retry);
  }

  private stopRetry(room: string): void {
    const retry = this.retries.get(room);
    if (retry?.timer !== undefined) this.settings.timers.clearTimeout(retry.timer);
    this.retries.delete(room);
  }

  private sendJoin(room: string): void {
    const since = this.stores.get(room)?.lastId;
    this.sender.transmit(since === undefined ? { type: 'join', room } : { type: 'join', room, since });
  }

  private rejectJoin(room: string, error: ChatClientError): void {
    const waiters = this.waiters.get(room);
    this.waiters.delete(room);
    for (const w of waiters ?? []) w.reject(error);
  }

  private emitPresence(store: RoomStore): void {
    this.emitter.emit('presence', { room: store.name, entries: store.presence(), users: store.users() });
  }

  private listChanged(): void {
    this.names = [...this.stores.keys()];
    this.emitter.emit('rooms', this.names);
  }
}
