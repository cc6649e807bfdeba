import { type ChatMessage, MAX_TEXT_CHARS, type ServerFrameOf } from '@chat/protocol';
import type { Emitter } from './emitter.js';
import type { FrameSender } from './link.js';
import { type OutboxEntry, RETRYABLE_SEND_ERRORS, refuseSend, toPending } from './outbox-entry.js';
import { Pacer } from './pacer.js';
import type { Settings } from './settings.js';
import {
  ChatClientError,
  type ChatClientEvents,
  type ClientErrorCode,
  type PendingMessage,
  type SendResult,
} from './types.js';

/** What the outbox needs of the rooms (Rooms): it neither holds nor changes a room's store. */
export interface OutboxRooms {
  /** The client is in the room (joined or re-joining): a send to it is accepted. */
  has(room: string): boolean;
  /** Joined on the current connection: the room's messages may go. */
  isJoined(room: string): boolean;
  /** Shows our acknowledged message in its room at once. */
  showOwn(message: ChatMessage): void;
  /** The room's pending messages changed (its snapshot is stale). */
  pendingChanged(room: string): void;
}

/**
 * Unacknowledged sends. Every (re)send of a message reuses its clientMsgId so the server can
 * de-duplicate; a room's messages go out only while it is joined, oldest first.
 */
export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();
  /** Keeps queued sends under the server's announced rate limits. */
  private readonly pacer = new Pacer();
  /** One timer for every room held back by the pacer. */
  private paceTimer: unknown;

  constructor(
    private readonly settings: Settings,
    private readonly emitter: Emitter<ChatClientEvents>,
    private readonly sender: FrameSender,
    private readonly rooms: OutboxRooms,
  ) {}

  add(room: string, text: string): { clientMsgId: string; promise: Promise<SendResult> } {
    const clientMsgId = this.settings.createId();
    const maxChars = this.sender.welcome?.maxTextChars ?? MAX_TEXT_CHARS;
    const early = refuseSend(clientMsgId, room, text, this.rooms.has(room), maxChars);

    const promise = new Promise<SendResult>((resolve, reject) => {
      if (early) {
        reject(early);
        return;
      }
      this.entries.set(clientMsgId, {
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
    return { clientMsgId, promise };
  }

  retry(clientMsgId: string): Promise<SendResult> | undefined {
    const entry = this.entries.get(clientMsgId);
    if (entry?.status !== 'failed') return undefined;
    // Re-inserted so it queues behind the room's newer messages, as a fresh send would.
    this.entries.delete(clientMsgId);
    const promise = new Promise<SendResult>((resolve, reject) => {
      this.entries.set(clientMsgId, {
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
    return promise;
  }

  discard(clientMsgId: string): void {
    const entry = this.entries.get(clientMsgId);
    if (entry) this.fail(entry, 'left', 'discarded', true);
  }

  /** Rejects and forgets every message of a room the client is no longer in. */
  failRoom(room: string, code: ClientErrorCode, message: string): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.room === room) this.fail(entry, code, message, true);
    }
  }

  pendingIn(room: string): PendingMessage[] {
    const pending: PendingMessage[] = [];
    for (const e of this.entries.values()) if (e.room === room) pending.push(toPending(e));
    return pending;
  }

  /** A new connection is open: pace to the limits its `welcome` announced. */
  connected(): void {
    this.pacer.reset(this.sender.welcome?.limits, this.settings.now());
  }

  /** The socket is gone: what was in flight may or may not have arrived, so it is sent again. */
  requeueInFlight(): void {
    for (const entry of this.entries.values()) {
      if (entry.status === 'sending') {
        entry.status = 'queued';
        this.clearTimer(entry);
        this.touch(entry.room);
      }
    }
  }

  /** Our own message in the server's ordered stream settles its send. */
  settleFromStream(message: ChatMessage): void {
    const own = this.entries.get(message.clientMsgId);
    if (own && own.room === message.room && message.from.id === this.sender.welcome?.user.id) {
      // The stream only carries durable messages: this is as good as the ack.
      this.settle(own, { clientMsgId: own.clientMsgId, room: own.room, id: message.id, duplicate: false });
    }
  }

  onAck(frame: ServerFrameOf<'ack'>): void {
    const entry = this.entries.get(frame.clientMsgId);
    const welcome = this.sender.welcome;
    if (entry && welcome) {
      // Show the message right away under its id; its own `msg` may arrive later (then dropped as a
      // duplicate). It does not move lastId: the stream may still deliver earlier ids.
      this.rooms.showOwn({
        id: frame.id,
        room: frame.room,
        from: welcome.user,
        text: entry.text,
        ts: this.settings.now(),
        clientMsgId: frame.clientMsgId,
      });
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

  /** Handles an error about one of our messages; false when `ref` is not one (a room, maybe). */
  onError(frame: ServerFrameOf<'error'>): boolean {
    const entry = frame.ref === undefined ? undefined : this.entries.get(frame.ref);
    if (!entry) return false;
    if (RETRYABLE_SEND_ERRORS.has(frame.code)) {
      if (frame.code === 'rate_limited')
        this.pacer.pause(this.settings.now(), frame.retryAfterMs ?? this.settings.sendRetryMs);
      this.clearTimer(entry);
      entry.status = 'queued';
      entry.notBefore = this.settings.now() + (frame.retryAfterMs ?? this.settings.sendRetryMs);
      this.touch(entry.room);
      this.emitter.emit('room', { room: entry.room });
      this.flushRoom(entry.room);
    } else {
      this.fail(entry, frame.code, frame.message, false);
    }
    return true;
  }

  /** Sends what is due in a room, oldest first; a message that must wait holds back the later ones. */
  flushRoom(room: string): void {
    if (!this.rooms.isJoined(room) || !this.sender.isOpen()) return;
    const now = this.settings.now();
    let changed = false;
    for (const entry of this.entries.values()) {
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
      const wait = this.pacer.take(now);
      if (wait > 0) {
        this.schedulePaced(wait);
        break;
      }
      this.clearTimer(entry);
      const sent = this.sender.transmit({
        type: 'send',
        room,
        clientMsgId: entry.clientMsgId,
        text: entry.text,
      });
      if (!sent) break;
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

  /** Flushes every room again once the pacer has a token. */
  private schedulePaced(wait: number): void {
    if (this.paceTimer !== undefined) return;
    this.paceTimer = this.settings.timers.setTimeout(() => {
      this.paceTimer = undefined;
      for (const room of new Set([...this.entries.values()].map((e) => e.room))) this.flushRoom(room);
    }, wait);
  }

  private settle(entry: OutboxEntry, result: SendResult): void {
    this.clearTimer(entry);
    this.entries.delete(entry.clientMsgId);
    this.touch(entry.room);
    entry.resolve(result);
  }

  /** `remove`: forget it (left, discarded); otherwise keep it as failed for retry()/discard(). */
  private fail(entry: OutboxEntry, code: ClientErrorCode, message: string, remove: boolean): void {
    this.clearTimer(entry);
    if (remove) this.entries.delete(entry.clientMsgId);
    else {
      entry.status = 'failed';
      entry.error = { code, message };
    }
    this.touch(entry.room);
    entry.reject(new ChatClientError(code, message, entry.clientMsgId));
    this.emitter.emit('room', { room: entry.room });
  }

  /** Snapshots are cached: a pending change must be told. */
  private touch(room: string): void {
    this.rooms.pendingChanged(room);
  }

  private clearTimer(entry: OutboxEntry): void {
    if (entry.timer !== undefined) this.settings.timers.clearTimeout(entry.timer);
    entry.timer = undefined;
  }
}
