import { compareIds, type PresenceEntry } from '@chat/protocol';
import type { PresenceDelta } from '../broker/types.js';
import type { Conn } from './connection.js';
import { frame, framePayload, msgFrame, textFrame } from './frames.js';

export interface BufferedFrame {
  id: string;
  data: Buffer;
}

/** A fanned-out message waiting for the end of this event-loop turn. */
interface Outgoing {
  id: string;
  /** The complete WebSocket frame (textFrame), built once per pod. */
  frame: Buffer;
}

/**
 * This pod's view of one room: who is here, what was delivered, and its presence cache. Each
 * message is encoded and framed once per pod; the messages that arrive in one event-loop turn
 * (one read from the subscriber connection carries many under load) go to each socket as one
 * write, so the syscalls per delivery fall as the load grows.
 */
export class Room {
  /** Sockets receiving live messages. */
  readonly live = new Set<Conn>();
  /** Sockets whose history is being read: live messages queue here until the replay is sent. */
  readonly joining = new Map<Conn, BufferedFrame[]>();
  /** Newest id handed to sockets; live delivery is in id order, so older ids are repeats. */
  lastDelivered: string | undefined;
  /** Newest id in history when this pod subscribed: where a catch-up starts if nothing came yet. */
  baseline = '0-0';
  /** While the pod re-reads history after a subscriber reconnect, live messages wait here. */
  catchUp: { id: string; body: string }[] | undefined;
  readonly presence = new Map<string, PresenceEntry>();
  /** Set when presence deltas arrived before the initial list was read. */
  removedDuringInit: Set<string> | undefined = new Set();
  ready: Promise<void> = Promise.resolve();
  presenceTimer: NodeJS.Timeout | undefined;

  private outgoing: Outgoing[] | undefined;
  /**
   * Sockets that went live with a replay read ahead of this pod's live stream: the history
   * read (command connection) can answer before the subscriber connection hands over the same
   * messages, so live messages up to the id already sent are skipped for them.
   */
  private floors: Map<Conn, string> | undefined;
  /** Presence changes coalesced into one frame per flush (join/leave storms stay cheap). */
  private readonly pendingJoin = new Map<string, PresenceEntry>();
  private readonly pendingLeave = new Set<string>();

  constructor(readonly name: string) {}

  get size(): number {
    return this.live.size + this.joining.size;
  }

  /**
   * Takes a live message: repeats are dropped, joining sockets buffer it, live sockets get it
   * at the next `flush`. Returns true when it was queued (the caller schedules the flush).
   */
  accept(id: string, body: string): boolean {
    if (this.lastDelivered !== undefined && compareIds(id, this.lastDelivered) <= 0) return false;
    this.lastDelivered = id;
    const data = textFrame(msgFrame(id, body));
    if (this.joining.size > 0) {
      const payload = framePayload(data);
      for (const buffer of this.joining.values()) buffer.push({ id, data: payload });
    }
    if (this.outgoing) this.outgoing.push({ id, frame: data });
    else this.outgoing = [{ id, frame: data }];
    return true;
  }

  /** Writes the waiting messages to the live sockets, one write per socket. Returns frames sent. */
  flush(): number {
    const queue = this.outgoing;
    if (!queue) return 0;
    this.outgoing = undefined;
    const frames = queue.map((m) => m.frame);
    const data = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
    let sent = 0;
    for (const conn of this.live) {
      const floor = this.floors?.get(conn);
      if (floor === undefined) {
        if (conn.sendFrames(data, frames)) sent += frames.length;
        continue;
      }
      // Went live with a replay ahead of this pod's live stream: skip what it already has.
      for (const m of queue) {
        const c = compareIds(m.id, floor);
        if (c >= 0) this.floors?.delete(conn); // ids only grow: later ones are all new to it
        if (c > 0 && conn.sendFrames(m.frame, [m.frame])) sent++;
      }
    }
    return sent;
  }

  /**
   * A joining socket has been sent its replay up to `lastSent`: flush what live sockets are
   * owed first (the joiner has those in its buffer), then make it live.
   */
  goLive(conn: Conn, lastSent: string | undefined): number {
    this.joining.delete(conn);
    const sent = this.flush();
    if (
      lastSent !== undefined &&
      (this.lastDelivered === undefined || compareIds(lastSent, this.lastDelivered) > 0)
    ) {
      this.floors ??= new Map();
      this.floors.set(conn, lastSent);
    }
    this.live.add(conn);
    return sent;
  }

  /** Removes a socket; true when it was live (its presence entry must go). */
  remove(conn: Conn): boolean {
    this.joining.delete(conn);
    this.floors?.delete(conn);
    return this.live.delete(conn);
  }

  /** Applies a presence change to the cache; true when a presence flush must be scheduled. */
  applyPresence(delta: PresenceDelta): boolean {
    if ('join' in delta) {
      this.presence.set(delta.join.key, delta.join);
      this.pendingLeave.delete(delta.join.key);
      this.pendingJoin.set(delta.join.key, delta.join);
    } else {
      this.presence.delete(delta.leave);
      this.removedDuringInit?.add(delta.leave);
      this.pendingJoin.delete(delta.leave);
      this.pendingLeave.add(delta.leave);
    }
    return this.presenceTimer === undefined;
  }

  /** Sends the coalesced presence changes to the live sockets. Returns frames sent. */
  flushPresence(): number {
    this.presenceTimer = undefined;
    if (this.pendingJoin.size === 0 && this.pendingLeave.size === 0) return 0;
    const data = Buffer.from(
      frame({
        type: 'presence',
        room: this.name,
        join: [...this.pendingJoin.values()],
        leave: [...this.pendingLeave],
      }),
    );
    this.pendingJoin.clear();
    this.pendingLeave.clear();
    let sent = 0;
    for (const conn of this.live) if (conn.send(data)) sent++;
    return sent;
  }

  dispose(): void {
    if (this.presenceTimer) clearTimeout(this.presenceTimer);
    this.outgoing = undefined;
    this.floors = undefined;
  }
}
