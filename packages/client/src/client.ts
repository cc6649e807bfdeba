import type { ServerFrameOf } from '@chat/protocol';
import { Connection } from './connection.js';
import { Emitter, type Listener } from './emitter.js';
import type { RoutedFrame } from './link.js';
import { Outbox } from './outbox.js';
import { Rooms } from './rooms.js';
import { resolveSettings } from './settings.js';
import type {
  ChatClientEvents,
  ChatClientOptions,
  ConnectionState,
  ConnectionStatus,
  JoinResult,
  PendingMessage,
  RoomSnapshot,
  SendHandle,
  ServiceStatus,
} from './types.js';

/**
 * A reconnecting chat client. It keeps one WebSocket open while `connect()`ed, re-opens it with
 * full-jitter exponential backoff (and per close code, see packages/protocol close-codes), detects
 * dead sockets with an application-level heartbeat watchdog, re-joins every room with the last id
 * it saw, drops duplicate messages, and keeps unacknowledged sends in an outbox that is flushed,
 * with the same clientMsgId, once the room is joined again.
 *
 * The work is split between Connection (reconnects, status) over Link (one socket), Rooms (joins,
 * messages, presence) and Outbox (sends); this class wires them and routes the server's frames.
 */
export class ChatClient {
  private readonly emitter = new Emitter<ChatClientEvents>();
  private readonly connection: Connection;
  private readonly roomState: Rooms;
  private readonly outbox: Outbox;
  private serviceValue: ServiceStatus = { state: 'ok' };

  constructor(options: ChatClientOptions) {
    const settings = resolveSettings(options);
    this.connection = new Connection(settings, this.emitter, {
      opened: () => {
        this.setService({ state: 'ok' });
        this.outbox.connected();
        this.roomState.rejoinAll();
      },
      disconnected: () => {
        this.roomState.markDisconnected();
        this.outbox.requeueInFlight();
        this.roomState.notifyAll();
      },
      frame: (frame) => this.onFrame(frame),
    });
    const sender = this.connection.sender;
    // The outbox sees the rooms only through this (its OutboxRooms); Rooms is made just below.
    this.outbox = new Outbox(settings, this.emitter, sender, {
      has: (room) => this.roomState.has(room),
      isJoined: (room) => this.roomState.isJoined(room),
      showOwn: (message) => this.roomState.showOwn(message),
      pendingChanged: (room) => this.roomState.pendingChanged(room),
    });
    this.roomState = new Rooms(settings, this.emitter, sender, this.outbox);
  }

  on<K extends keyof ChatClientEvents>(event: K, listener: Listener<ChatClientEvents[K]>): () => void {
    return this.emitter.on(event, listener);
  }

  off<K extends keyof ChatClientEvents>(event: K, listener: Listener<ChatClientEvents[K]>): void {
    this.emitter.off(event, listener);
  }

  get state(): ConnectionState {
    return this.connection.status.state;
  }

  /** The current connection status; a new object on every change (usable as a React snapshot). */
  get status(): ConnectionStatus {
    return this.connection.status;
  }

  /** What the server last said about its chat service (a new object on every change). */
  get service(): ServiceStatus {
    return this.serviceValue;
  }

  /**
   * The `welcome` of the current connection, undefined while not open. It changes only with the
   * state: subscribe to `state` (or `welcome`) to follow it, e.g. with useSyncExternalStore.
   */
  get welcome(): ServerFrameOf<'welcome'> | undefined {
    return this.connection.sender.welcome;
  }

  /** Rooms this client is in (or re-joining), in the order they were joined. */
  get rooms(): readonly string[] {
    return this.roomState.list;
  }

  /** Starts connecting (and keeps reconnecting) until `close()` or a stay-closed close code. */
  connect(): void {
    this.connection.connect();
  }

  /**
   * While reconnecting (waiting for the backoff timer): tries now, e.g. for a "Retry now"
   * button. False when there is nothing to retry (open, connecting, closed or offline waits).
   */
  reconnectNow(): boolean {
    return this.connection.retryNow();
  }

  /** Closes for good (code 1000). Queued messages stay queued for a later `connect()`. */
  close(reason = 'client closed'): void {
    this.connection.close(reason);
  }

  /**
   * Joins a room now and after every reconnect (with `since` = the last id seen). Resolves on the
   * first `joined`/`resync`; rejects if the server refuses the room (the room is then dropped).
   */
  join(room: string): Promise<JoinResult> {
    return handled(this.roomState.join(room));
  }

  /** Leaves a room: no more resume for it; its pending messages are rejected with code 'left'. */
  leave(room: string): void {
    this.roomState.leave(room);
  }

  /**
   * Sends `text` to a joined room. It is queued while disconnected and (re)sent with the same
   * clientMsgId until acknowledged. The returned promise resolves on the ack.
   */
  send(room: string, text: string): SendHandle {
    const { clientMsgId, promise } = this.outbox.add(room, text);
    return Object.assign(handled(promise), { clientMsgId });
  }

  /** Sends a failed message again (same clientMsgId). Its original promise has already settled. */
  retry(clientMsgId: string): SendHandle | undefined {
    const promise = this.outbox.retry(clientMsgId);
    return promise && Object.assign(handled(promise), { clientMsgId });
  }

  /** Forgets a pending or failed message (a pending one is rejected with code 'left'). */
  discard(clientMsgId: string): void {
    this.outbox.discard(clientMsgId);
  }

  /** A stable snapshot of a room (the same object until something in the room changes). */
  getRoom(room: string): RoomSnapshot | undefined {
    return this.roomState.snapshot(room);
  }

  /** All unacknowledged messages (every room), oldest first. */
  pending(): PendingMessage[] {
    return this.roomState.list.flatMap((room) => this.getRoom(room)?.pending ?? []);
  }

  /** Sends an application ping; any answer feeds the watchdog. */
  ping(): void {
    this.connection.ping();
  }

  private setService(next: ServiceStatus): void {
    const prev = this.serviceValue;
    if (prev.state === next.state && prev.reason === next.reason) return;
    this.serviceValue = next;
    this.emitter.emit('service', next);
  }

  private onFrame(frame: RoutedFrame): void {
    switch (frame.type) {
      case 'joined':
        this.roomState.onJoined(frame, false);
        this.emitter.emit('joined', frame);
        return;
      case 'resync':
        this.roomState.onJoined(frame, true);
        this.emitter.emit('resync', frame);
        return;
      case 'left':
        this.emitter.emit('left', frame);
        return;
      case 'msg': {
        const { type: _type, prev, ...message } = frame;
        this.roomState.onMessage(message, prev);
        return;
      }
      case 'ack':
        this.outbox.onAck(frame);
        return;
      case 'presence':
        this.roomState.onPresence(frame);
        return;
      case 'status':
        this.setService(
          frame.reason ? { state: frame.service, reason: frame.reason } : { state: frame.service },
        );
        return;
      case 'error':
        // The ref is a clientMsgId for a send, a room name for a join.
        if (!this.outbox.onError(frame)) this.roomState.onJoinError(frame);
        this.emitter.emit('error', frame);
        return;
    }
  }
}

/** Marks a promise as handled so an ignored rejection is not reported; awaiting it still throws. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
