import { compareIds } from '@chat/protocol';
import type { Conn } from './connection.js';
import { framePayload } from './frames.js';

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
 * The sockets of one room on this pod and what is on its way to them: live sockets, joining
 * sockets (their live messages buffered until their replay is sent), and the messages of this
 * event-loop turn, written to each live socket as one write. Owned by its Room, which decides
 * what is delivered; this decides only how it reaches each socket.
 */
export class RoomMembers {
  private readonly live = new Set<Conn>();
  private readonly joining = new Map<Conn, BufferedFrame[]>();
  private outgoing: Outgoing[] | undefined;
  /**
   * Sockets that went live with a replay read ahead of this pod's live stream: the history
   * read (command connection) can answer before the subscriber connection hands over the same
   * messages, so live messages up to the id already sent are skipped for them.
   */
  private floors: Map<Conn, string> | undefined;

  get size(): number {
    return this.live.size + this.joining.size;
  }

  /** Queues a message frame for every member; true when it is the first of this turn (flush it). */
  queue(id: string, frame: Buffer): boolean {
    if (this.joining.size > 0) {
      const payload = framePayload(frame);
      for (const buffer of this.joining.values()) buffer.push({ id, data: payload });
    }
    if (this.outgoing) {
      this.outgoing.push({ id, frame });
      return false;
    }
    this.outgoing = [{ id, frame }];
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

  /** Sends one frame to the live sockets now (presence). Returns frames sent. */
  sendLive(data: Buffer): number {
    let sent = 0;
    for (const conn of this.live) if (conn.send(data)) sent++;
    return sent;
  }

  /** A resync (its page ends at `id`) for everyone: live now, joining after their replay. */
  restart(id: string, data: Buffer): number {
    const sent = this.flush() + this.sendLive(data);
    for (const buffer of this.joining.values()) buffer.push({ id, data });
    this.floors = undefined;
    return sent;
  }

  /** A socket starts joining: live messages are kept for it until its replay is sent. */
  beginJoin(conn: Conn): BufferedFrame[] {
    const buffer: BufferedFrame[] = [];
    this.joining.set(conn, buffer);
    return buffer;
  }

  /** False when the socket left, or rejoined, while its history was being read. */
  stillJoining(conn: Conn, buffer: BufferedFrame[]): boolean {
    return this.joining.get(conn) === buffer;
  }

  /**
   * A joining socket has been sent its replay up to `lastSent`; `head` is the room's last
   * delivered id. Flushes what live sockets are owed first (the joiner has those in its
   * buffer), then makes it live. Returns frames sent.
   */
  goLive(conn: Conn, lastSent: string | undefined, head: string | undefined): number {
    this.joining.delete(conn);
    const sent = this.flush();
    if (lastSent !== undefined && (head === undefined || compareIds(lastSent, head) > 0)) {
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

  clear(): void {
    this.outgoing = undefined;
    this.floors = undefined;
  }
}
