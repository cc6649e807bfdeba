import { CloseCode, type PresenceEntry } from '@chat/protocol';
import type { Broker, StoredMessage } from '../broker/types.js';
import type { Conn } from './connection.js';
import { joinedFrame, msgFrame, resyncFrame, textFrame } from './frames.js';
import type { HistoryGate, ReplaySlot } from './history-gate.js';

export interface ReplayOptions {
  /** Entries per history read (one XRANGE). */
  page: number;
  /** Messages of the latest page (a join without `since`, a resync). */
  historyPage: number;
  /** Bytes of messages per write to a socket; the next is written once its backlog is below this. */
  chunkBytes: number;
  /** A socket whose backlog stays above `chunkBytes` this long does not read: closed 1013. */
  stallMs: number;
}

/** The joining socket and its room, as the hub sees them while the reply is sent. */
export interface JoinTarget {
  conn: Conn;
  room: string;
  /** False once the socket left the room (or joined it again) or closed. */
  still(): boolean;
  presence(): PresenceEntry[];
}

/** What the joining socket was sent: up to `lastSent`, with `presence` as the room's members. */
export interface Replayed {
  lastSent: string | undefined;
  presence: PresenceEntry[];
}

/** Room names are JSON-safe ids, message bodies JSON objects: a frame's size is about this. */
const FRAME_OVERHEAD = 64;

/**
 * The reply to a join: the latest page, or everything after `since` read a page at a time
 * (HistoryGate bounds the pod's concurrent reads) and written as the socket takes it, so
 * neither Redis nor this process ever holds a whole history for one join.
 *
 * Wire contract, unchanged for clients: `joined {resumed: true}` carries the first part of the
 * messages after `since`; the rest follow as `msg` frames chained by `prev`, before any live
 * message. History trimmed under a long replay ends it with `resync` (the latest page).
 */
export class Replayer {
  constructor(
    private readonly broker: Broker,
    private readonly gate: HistoryGate,
    private readonly opts: ReplayOptions,
    private readonly warn: (obj: object, msg: string) => void,
  ) {}

  /**
   * Sends the reply, within one of the pod's replay slots; false when the socket left, closed
   * or stalled meanwhile. Errors before anything was sent (HistoryBusyError, Redis) propagate.
   * A later read that fails closes the socket 1013: the client resumes after what it got.
   */
  async reply(t: JoinTarget, since: string | undefined): Promise<Replayed | false> {
    const slot = await this.gate.admit();
    try {
      // Queued for the slot meanwhile: the socket may have gone.
      return t.still() ? await this.replay(slot, t, since) : false;
    } finally {
      slot.release();
    }
  }

  private async replay(
    slot: ReplaySlot,
    t: JoinTarget,
    since: string | undefined,
  ): Promise<Replayed | false> {
    if (since === undefined) {
      const page = await this.latest(slot, t.room);
      if (!t.still()) return false;
      const presence = t.presence();
      if (!t.conn.send(joinedFrame(t.room, page, presence, false))) return false;
      return { lastSent: page.at(-1)?.id, presence };
    }
    const { page, chunkBytes } = this.opts;
    // `joined` carries whole pages up to a chunk's worth: a short replay is all in it, as before.
    let entries: StoredMessage[] = [];
    let bytes = 0;
    let full = true;
    while (full && bytes < chunkBytes) {
      const from = entries.at(-1)?.id ?? since;
      const read = await slot.read(page, () => this.broker.range(t.room, from, page));
      if (!read.complete) return this.resync(slot, t, read.reason);
      for (const e of read.entries) bytes += Buffer.byteLength(e.body) + FRAME_OVERHEAD;
      entries = entries.length === 0 ? read.entries : entries.concat(read.entries);
      full = read.entries.length >= page;
    }
    if (!t.still()) return false;
    const head = this.chunkEnd(entries, 0);
    const presence = t.presence();
    if (!t.conn.send(joinedFrame(t.room, entries.slice(0, head), presence, true))) return false;
    let lastSent = entries[head - 1]?.id ?? since;
    entries = entries.slice(head);
    try {
      for (;;) {
        const sent = await this.sendMessages(slot, t, entries, lastSent);
        if (sent === false) return false;
        lastSent = sent;
        if (!full) return { lastSent, presence };
        const from = lastSent;
        const next = await slot.read(page, () => this.broker.range(t.room, from, page));
        if (!t.still()) return false;
        if (!next.complete) return await this.resync(slot, t, next.reason);
        entries = next.entries;
        full = entries.length >= page;
      }
    } catch (err) {
      this.warn({ err, room: t.room }, 'history read failed during a replay');
      void t.conn.close(CloseCode.TryAgainLater, 'room history is unavailable right now');
      return false;
    }
  }

  private latest(slot: ReplaySlot, room: string): Promise<StoredMessage[]> {
    return slot.read(this.opts.historyPage, () => this.broker.latest(room, this.opts.historyPage));
  }

  /** History no longer holds what follows the resume point: the client starts over. */
  private async resync(
    slot: ReplaySlot,
    t: JoinTarget,
    reason: 'trimmed' | 'unknown_id',
  ): Promise<Replayed | false> {
    const page = await this.latest(slot, t.room);
    if (!t.still()) return false;
    const presence = t.presence();
    if (!t.conn.send(resyncFrame(t.room, reason, page, presence))) return false;
    return { lastSent: page.at(-1)?.id, presence };
  }

  /** Writes `entries` as msg frames, a chunk at a time as the socket drains. The last id sent, or false. */
  private async sendMessages(
    slot: ReplaySlot,
    t: JoinTarget,
    entries: StoredMessage[],
    after: string,
  ): Promise<string | false> {
    let prev = after;
    let i = 0;
    while (i < entries.length) {
      if (t.conn.ws.bufferedAmount > this.opts.chunkBytes) {
        // Another join reads meanwhile: a socket that does not read holds no slot.
        slot.pause();
        const state = await t.conn.drained(this.opts.chunkBytes, this.opts.stallMs);
        if (state === 'stalled')
          void t.conn.close(CloseCode.TryAgainLater, 'slow consumer: history not read');
        if (state !== 'ok' || !t.still()) return false;
        await slot.resume();
      }
      if (!t.still()) return false;
      const end = this.chunkEnd(entries, i);
      const frames: Buffer[] = [];
      for (; i < end; i++) {
        const e = entries[i] as StoredMessage;
        frames.push(textFrame(msgFrame(e.id, prev, e.body)));
        prev = e.id;
      }
      if (!t.conn.sendFrames(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames), frames))
        return false;
    }
    return prev;
  }

  /** Where the chunk starting at `from` ends: about `chunkBytes` of messages, at least one. */
  private chunkEnd(entries: StoredMessage[], from: number): number {
    let bytes = 0;
    let i = from;
    while (i < entries.length && (i === from || bytes < this.opts.chunkBytes)) {
      bytes += Buffer.byteLength((entries[i] as StoredMessage).body) + FRAME_OVERHEAD;
      i++;
    }
    return i;
  }
}
