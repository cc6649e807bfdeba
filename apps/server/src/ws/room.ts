import { compareIds, type PresenceEntry, ZERO_ID } from '@chat/protocol';
import type { Broker, PresenceDelta, RangeResult, StoredMessage } from '../broker/types.js';
import type { Conn } from './connection.js';
import { msgFrame, resyncFrame, textFrame } from './frames.js';
import { type BufferedFrame, RoomMembers } from './room-members.js';
import { RoomPresence } from './room-presence.js';
import { TailWatch } from './tail-watch.js';

/** Why a room re-read history: the chain broke, the tail moved without us, or the subscriber came back. */
export type HealReason = 'gap' | 'tail' | 'resubscribed';

/** What a room needs from the pod; built once by the registry and shared by every room. */
export interface RoomContext {
  readonly broker: Broker;
  readonly historyPage: number;
  /** Entries per history read of a heal. */
  readonly replayPage: number;
  /** Runs a history read within the pod's bound on concurrent reads (heals first in line). */
  readHistory<T extends RangeResult | StoredMessage[]>(read: () => Promise<T>): Promise<T>;
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
const HEAL_RETRY_MS = 1000;

interface Live {
  id: string;
  prev: string;
  body: string;
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
  private readonly sockets = new RoomMembers();
  private readonly presence: RoomPresence;

  /** Last id handed to sockets (or the stream's tail when the room opened); undefined while opening. */
  private head: string | undefined;
  private pending: Live[] = [];
  private pendingOverflow = false;
  private healing = false;
  private healAgain = false;
  private readonly tail = new TailWatch();
  private ready: Promise<void> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly name: string,
    private readonly ctx: RoomContext,
  ) {
    this.presence = new RoomPresence(
      name,
      (data) => this.sockets.sendLive(data),
      (n) => ctx.framesOut(n),
    );
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Subscribes, then takes the stream's tail as the starting point of live delivery. */
  open(): Promise<void> {
    const { broker } = this.ctx;
    this.ready = (async () => {
      await broker.subscribe(this.name);
      // Subscribed first: whatever is stored after these reads arrives live, chained to them.
      const [last, list] = await Promise.all([broker.lastId(this.name), broker.presence.list(this.name)]);
      this.presence.initialize(list);
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
    this.tail.active();
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

  /** The stream's newest id, read by the periodic check: heals when a publish was lost. */
  checkTail(lastId: string, tick: number): void {
    const lost = this.tail.read(lastId, this.head, tick);
    if (lost && !this.healing && this.head !== undefined) void this.heal('tail');
  }

  /** Whether the periodic check should read this room's tail at period `tick` (see TailWatch). */
  tailCheckDue(tick: number): boolean {
    return this.tail.due(tick);
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
        const recovered = await this.readGap();
        if (this.disposed) return;
        if (recovered === 'trimmed' || recovered === 'unknown_id') await this.resync(recovered);
        else this.ctx.healed(reason, recovered);
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

  /**
   * Delivers what history holds after `head`, a page at a time (each page reaches the sockets
   * at the end of its turn). The count delivered, or why the gap cannot be read.
   */
  private async readGap(): Promise<number | 'trimmed' | 'unknown_id'> {
    const { broker, replayPage } = this.ctx;
    let recovered = 0;
    for (;;) {
      const from = this.head as string;
      const result = await this.ctx.readHistory(() => broker.range(this.name, from, replayPage));
      if (this.disposed) return recovered;
      if (!result.complete) return result.reason;
      for (const e of result.entries)
        if (compareIds(e.id, this.head as string) > 0) {
          this.deliver(e.id, e.body);
          recovered++;
        }
      if (result.entries.length < replayPage) return recovered;
    }
  }

  /** More was missed than history keeps: every member starts over from the latest page. */
  private async resync(reason: 'trimmed' | 'unknown_id'): Promise<void> {
    const page = await this.ctx.readHistory(() => this.ctx.broker.latest(this.name, this.ctx.historyPage));
    if (this.disposed) return;
    const lastId = page.at(-1)?.id ?? ZERO_ID;
    const data = Buffer.from(resyncFrame(this.name, reason, page, this.presence.members()));
    this.ctx.framesOut(this.sockets.restart(lastId, data));
    this.ctx.resynced(reason);
    this.head = lastId;
  }

  /** Hands one message to the sockets; its predecessor in the stream is `head`, proven by the caller. */
  private deliver(id: string, body: string): void {
    const data = textFrame(msgFrame(id, this.head ?? ZERO_ID, body));
    this.head = id;
    if (this.sockets.queue(id, data)) this.ctx.scheduleFlush(this);
    this.ctx.delivered(id);
  }

  /** Writes this turn's messages to the live sockets. Returns frames sent. */
  flush(): number {
    return this.sockets.flush();
  }

  // ---- members --------------------------------------------------------------------------

  beginJoin(conn: Conn): BufferedFrame[] {
    return this.sockets.beginJoin(conn);
  }

  stillJoining(conn: Conn, buffer: BufferedFrame[]): boolean {
    return this.sockets.stillJoining(conn, buffer);
  }

  /** The socket's replay was sent up to `lastSent`: it receives live messages from now on. */
  goLive(conn: Conn, lastSent: string | undefined): number {
    return this.sockets.goLive(conn, lastSent, this.head);
  }

  /** Removes a socket; true when it was live (its presence entry must go). */
  remove(conn: Conn): boolean {
    return this.sockets.remove(conn);
  }

  // ---- presence -------------------------------------------------------------------------

  /** Everyone here, as this pod knows it. */
  members(): PresenceEntry[] {
    return this.presence.members();
  }

  applyPresence(delta: PresenceDelta): void {
    if (!this.disposed) this.presence.apply(delta);
  }

  private async refreshPresence(): Promise<void> {
    this.presence.reconcile(await this.ctx.broker.presence.list(this.name));
  }

  dispose(): void {
    this.disposed = true;
    this.presence.dispose();
    this.sockets.clear();
    this.pending = [];
  }
}
