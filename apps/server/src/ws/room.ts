import { compareIds, type PresenceEntry, ZERO_ID } from '@chat/protocol';
import type { Broker, PresenceDelta } from '../broker/types.js';
import type { Conn } from './connection.js';
import { frame, framePayload, msgFrame, resyncFrame, textFrame } from './frames.js';

export interface BufferedFrame {
  id: string;
  data: Buffer;
}

/** Why a room re-read history: the chain broke, the tail moved without us, or the subscriber came back. */
export type HealReason = 'gap' | 'tail' | 'resubscribed';

/** What a room needs from the pod; built once by the registry and shared by every room. */
export interface RoomContext {
  readonly broker: Broker;
  readonly historyPage: number;
  /** The room has frames queued for its live sockets: flush it at the end of this turn. */
  scheduleFlush(room: Room): void;
  /** A message was handed to this pod's sockets (for the fan-out latency metric). */
  delivered(id: string): void;
  /** History was read because live delivery missed something; `recovered` messages came from it. */
  healed(reason: HealReason, recovered: number): void;
  resynced(reason: 'trimmed' | 'unknown_id'): void;
  framesOut(n: number): void;
  warn(obj: object, msg: string): void;
}

/** Live messages waiting while the room opens or heals; past this, history is read instead. */
const MAX_PENDING = 10_000;
const PRESENCE_FLUSH_MS = 50;
const HEAL_RETRY_MS = 1000;

interface Live {
  id: string;
  prev: string;
  body: string;
}

/** A fanned-out message waiting for the end of this event-loop turn. */
interface Outgoing {
  id: string;
  /** The complete WebSocket frame (textFrame), built once per pod. */
  frame: Buffer;
}

/**
 * This pod's view of one room: who is here, what was delivered, and its presence cache.
 *
 * Live delivery is proven, not trusted: `head` is the last id this pod handed its sockets, and
 * a live message is delivered only when its `prev` (the entry before it in the stream) is
 * `head`. Anything else (a reconnect, a dropped publish, an overflowing subscriber) makes the
 * room read the gap from the stream before delivering more; live messages wait meanwhile.
 *
 * Each message is encoded and framed once per pod; the messages that arrive in one event-loop
 * turn go to each socket as one write.
 */
export class Room {
  /** Sockets receiving live messages. */
  private readonly live = new Set<Conn>();
  /** Sockets whose history is being read: live messages queue here until the replay is sent. */
  private readonly joining = new Map<Conn, BufferedFrame[]>();
  private readonly presence = new Map<string, PresenceEntry>();
  /** Set while the initial presence list is read: deltas that removed someone meanwhile. */
  private removedDuringInit: Set<string> | undefined = new Set();
  private presenceTimer: NodeJS.Timeout | undefined;
  private readonly pendingJoin = new Map<string, PresenceEntry>();
  private readonly pendingLeave = new Set<string>();

  /** Last id handed to sockets (or the stream's tail when the room opened); undefined while opening. */
  private head: string | undefined;
  private pending: Live[] = [];
  private pendingOverflow = false;
  private healing = false;
  private healAgain = false;
  /** The stream's tail at the previous check, to tell a lost message from one still in flight. */
  private tailSeen: string | undefined;
  private ready: Promise<void> = Promise.resolve();
  private disposed = false;

  private outgoing: Outgoing[] | undefined;
  /**
   * Sockets that went live with a replay read ahead of this pod's live stream: the history
   * read (command connection) can answer before the subscriber connection hands over the same
   * messages, so live messages up to the id already sent are skipped for them.
   */
  private floors: Map<Conn, string> | undefined;

  constructor(
    readonly name: string,
    private readonly ctx: RoomContext,
  ) {}

  get size(): number {
    return this.live.size + this.joining.size;
  }

  /** Subscribes, then takes the stream's tail as the starting point of live delivery. */
  open(): Promise<void> {
    const { broker } = this.ctx;
    this.ready = (async () => {
      await broker.subscribe(this.name);
      // Subscribed first: whatever is stored after these reads arrives live, chained to them.
      const [last, list] = await Promise.all([broker.lastId(this.name), broker.presenceList(this.name)]);
      for (const p of list)
        if (!this.removedDuringInit?.has(p.key) && !this.presence.has(p.key)) this.presence.set(p.key, p);
      this.removedDuringInit = undefined;
      this.head = last;
      this.replayPending();
      if (this.healAgain) void this.heal('gap');
    })();
    return this.ready;
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  // ---- live delivery ------------------------------------------------------------------------

  /** A message from the broker's live stream. */
  receive(id: string, prev: string, body: string): void {
    if (this.disposed) return;
    if (this.head === undefined || this.healing) {
      this.queue({ id, prev, body });
      return;
    }
    if (compareIds(id, this.head) <= 0) return; // already delivered (read from history first)
    if (prev !== this.head) {
      this.queue({ id, prev, body });
      void this.heal('gap');
      return;
    }
    this.deliver(id, body);
  }

  /** Live delivery may have been interrupted: read history after `head` before trusting it again. */
  resubscribed(): void {
    void this.heal('resubscribed');
  }

  /**
   * The stream's newest id, read periodically: when it was already there at the previous check
   * and is still ahead of `head`, its publish was lost (nothing newer came to reveal the gap).
   */
  checkTail(lastId: string): void {
    const seen = this.tailSeen;
    this.tailSeen = lastId;
    if (this.head === undefined || this.healing || seen === undefined) return;
    if (compareIds(seen, this.head) > 0) void this.heal('tail');
  }

  private queue(m: Live): void {
    if (this.pending.length >= MAX_PENDING) {
      // Everything live is in the stream too: drop the queue and read history instead.
      this.pending = [];
      this.pendingOverflow = true;
      return;
    }
    this.pending.push(m);
  }

  /** Delivers queued live messages that chain on `head`; flags a heal at the first that does not. */
  private replayPending(): void {
    const queued = this.pending;
    this.pending = [];
    if (this.pendingOverflow) {
      this.pendingOverflow = false;
      this.healAgain = true;
      return;
    }
    for (let i = 0; i < queued.length; i++) {
      const m = queued[i] as Live;
      const head = this.head as string;
      if (compareIds(m.id, head) <= 0) continue;
      if (m.prev !== head) {
        this.pending = queued.slice(i);
        this.healAgain = true;
        return;
      }
      this.deliver(m.id, m.body);
    }
  }

  private async heal(reason: HealReason): Promise<void> {
    if (this.healing) {
      this.healAgain = true;
      return;
    }
    this.healing = true;
    try {
      await this.ready;
      do {
        this.healAgain = false;
        if (this.disposed) return;
        const result = await this.ctx.broker.range(this.name, this.head as string);
        if (this.disposed) return;
        if (result.complete) {
          let recovered = 0;
          for (const e of result.entries)
            if (compareIds(e.id, this.head as string) > 0) {
              this.deliver(e.id, e.body);
              recovered++;
            }
          this.ctx.healed(reason, recovered);
        } else {
          await this.resync(result.reason);
        }
        this.replayPending();
        if (reason === 'resubscribed') await this.refreshPresence();
      } while (this.healAgain);
      this.healing = false;
    } catch (err) {
      // Live messages keep queueing (bounded) until history can be read again.
      this.ctx.warn({ err, room: this.name }, 'reading missed messages from history failed; retrying');
      const timer = setTimeout(() => {
        this.healing = false;
        if (!this.disposed) void this.heal(reason);
      }, HEAL_RETRY_MS);
      timer.unref();
    }
  }

  /** More was missed than history keeps: every member starts over from the latest page. */
  private async resync(reason: 'trimmed' | 'unknown_id'): Promise<void> {
    const page = await this.ctx.broker.latest(this.name, this.ctx.historyPage);
    if (this.disposed) return;
    this.ctx.framesOut(this.flush());
    const lastId = page.at(-1)?.id ?? ZERO_ID;
    const data = Buffer.from(resyncFrame(this.name, reason, page, [...this.presence.values()]));
    let sent = 0;
    for (const conn of this.live) if (conn.send(data)) sent++;
    for (const buffer of this.joining.values()) buffer.push({ id: lastId, data });
    this.ctx.framesOut(sent);
    this.ctx.resynced(reason);
    this.floors = undefined;
    this.head = lastId;
  }

  /** Hands one message to the sockets; its predecessor in the stream is `head`, proven by the caller. */
  private deliver(id: string, body: string): void {
    const data = textFrame(msgFrame(id, this.head ?? ZERO_ID, body));
    this.head = id;
    if (this.joining.size > 0) {
      const payload = framePayload(data);
      for (const buffer of this.joining.values()) buffer.push({ id, data: payload });
    }
    if (this.outgoing) this.outgoing.push({ id, frame: data });
    else {
      this.outgoing = [{ id, frame: data }];
      this.ctx.scheduleFlush(this);
    }
    this.ctx.delivered(id);
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

  // ---- members --------------------------------------------------------------------------

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
   * A joining socket has been sent its replay up to `lastSent`: flush what live sockets are
   * owed first (the joiner has those in its buffer), then make it live.
   */
  goLive(conn: Conn, lastSent: string | undefined): number {
    this.joining.delete(conn);
    const sent = this.flush();
    if (lastSent !== undefined && (this.head === undefined || compareIds(lastSent, this.head) > 0)) {
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

  // ---- presence -------------------------------------------------------------------------

  /** Everyone here, as this pod knows it. */
  members(): PresenceEntry[] {
    return [...this.presence.values()];
  }

  /** Applies a presence change; changes within PRESENCE_FLUSH_MS go out as one frame. */
  applyPresence(delta: PresenceDelta): void {
    if (this.disposed) return;
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
    this.presenceTimer ??= setTimeout(() => this.ctx.framesOut(this.flushPresence()), PRESENCE_FLUSH_MS);
  }

  /** Presence changes may have been missed too: diff against the stored list. */
  private async refreshPresence(): Promise<void> {
    const list = await this.ctx.broker.presenceList(this.name);
    const seen = new Set<string>();
    for (const p of list) {
      seen.add(p.key);
      if (!this.presence.has(p.key)) this.applyPresence({ join: p });
    }
    for (const key of [...this.presence.keys()]) if (!seen.has(key)) this.applyPresence({ leave: key });
  }

  private flushPresence(): number {
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
    this.disposed = true;
    if (this.presenceTimer) clearTimeout(this.presenceTimer);
    this.outgoing = undefined;
    this.floors = undefined;
    this.pending = [];
  }
}
