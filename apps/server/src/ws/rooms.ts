import type { Broker, BrokerListener, PresenceDelta } from '../broker/types.js';
import type { Metrics } from '../metrics.js';
import { idTime } from './frames.js';
import type { HistoryGate } from './history-gate.js';
import { type HealReason, Room, type RoomContext } from './room.js';

export interface RoomRegistryOptions {
  /** The pod's bound on concurrent history reads, shared with joins (heals go first). */
  gate: HistoryGate;
  replayPage: number;
  historyPage: number;
  /** How often the rooms' stream tails are compared with what was delivered (0 = never). */
  liveCheckMs: number;
  log: { warn(obj: object, msg: string): void };
}

/** Rooms per pipelined round trip of the tail check. */
const TAIL_CHECK_BATCH = 500;

/**
 * The rooms this pod has members in, and the broker's listener: live messages and presence
 * go to their room, a subscriber reconnect makes every room heal, and a periodic check of the
 * streams' tails catches a lost last message that no later message would reveal (idle rooms
 * are read less and less often, see TailWatch). Messages
 * that arrive in one event-loop turn are flushed together at its end.
 */
export class RoomRegistry implements BrokerListener {
  private readonly rooms = new Map<string, Room>();
  /** Rooms with messages waiting for the end of this event-loop turn. */
  private readonly dirty = new Set<Room>();
  private readonly ctx: RoomContext;
  private readonly tailTimer: NodeJS.Timeout | undefined;
  private checking = false;
  /** Periods of the tail check so far. */
  private tick = 0;

  constructor(
    private readonly broker: Broker,
    private readonly metrics: Metrics,
    private readonly opts: RoomRegistryOptions,
  ) {
    this.ctx = {
      broker,
      historyPage: opts.historyPage,
      replayPage: opts.replayPage,
      readHistory: (read) => opts.gate.heal(read),
      scheduleFlush: (room) => {
        if (this.dirty.size === 0) setImmediate(() => this.flushAll());
        this.dirty.add(room);
      },
      delivered: (id) => metrics.fanoutLatency.observe(Math.max(0, Date.now() - idTime(id)) / 1000),
      healed: (reason, recovered) => {
        metrics.liveHeals.inc({ reason });
        if (recovered > 0) metrics.liveHealed.inc({ reason }, recovered);
      },
      resynced: (reason) => metrics.liveResyncs.inc({ reason }),
      framesOut: (n) => {
        if (n > 0) metrics.framesOut.inc(n);
      },
      warn: (obj, msg) => opts.log.warn(obj, msg),
    };
    broker.setListener(this);
    if (opts.liveCheckMs > 0) {
      this.tailTimer = setInterval(() => void this.checkTails(), opts.liveCheckMs);
      this.tailTimer.unref();
    }
  }

  get size(): number {
    return this.rooms.size;
  }

  /** The room, opened (subscribed) on first use. A room that fails to open is dropped again. */
  acquire(name: string): Room {
    let room = this.rooms.get(name);
    if (room) return room;
    room = new Room(name, this.ctx);
    this.rooms.set(name, room);
    this.metrics.rooms.set(this.rooms.size);
    const r = room;
    r.open().catch(() => {
      // A failed subscription must not stick: drop the room so the next join starts over.
      if (this.rooms.get(name) === r) this.drop(r);
    });
    return room;
  }

  get(name: string): Room | undefined {
    return this.rooms.get(name);
  }

  /** Closes the room when its last member left. */
  releaseIfEmpty(room: Room): void {
    if (room.size > 0 || this.rooms.get(room.name) !== room) return;
    this.drop(room);
  }

  close(): void {
    if (this.tailTimer) clearInterval(this.tailTimer);
    for (const room of this.rooms.values()) room.dispose();
    this.rooms.clear();
    this.dirty.clear();
  }

  // ---- BrokerListener -----------------------------------------------------------------------

  message(name: string, id: string, prev: string, body: string): void {
    this.rooms.get(name)?.receive(id, prev, body);
  }

  presence(name: string, delta: PresenceDelta): void {
    this.rooms.get(name)?.applyPresence(delta);
  }

  resubscribed(): void {
    for (const room of this.rooms.values()) room.resubscribed();
  }

  // ---- internals ------------------------------------------------------------------------

  private drop(room: Room): void {
    this.rooms.delete(room.name);
    this.dirty.delete(room);
    room.dispose();
    this.metrics.rooms.set(this.rooms.size);
    this.broker
      .unsubscribe(room.name)
      .catch((err: unknown) => this.opts.log.warn({ err }, 'unsubscribe failed'));
  }

  private flushAll(): void {
    let sent = 0;
    for (const room of this.dirty) sent += room.flush();
    this.dirty.clear();
    if (sent > 0) this.metrics.framesOut.inc(sent);
  }

  /** Reads the tails of the rooms due (pipelined, in batches) and lets each room judge its own. */
  private async checkTails(): Promise<void> {
    if (this.checking || !this.broker.healthy() || this.rooms.size === 0) return;
    this.checking = true;
    try {
      const tick = ++this.tick;
      const names: string[] = [];
      for (const [name, room] of this.rooms) if (room.tailCheckDue(tick)) names.push(name);
      this.metrics.liveTailChecks.inc();
      if (names.length > 0) this.metrics.liveTailReads.inc(names.length);
      for (let i = 0; i < names.length; i += TAIL_CHECK_BATCH) {
        const batch = names.slice(i, i + TAIL_CHECK_BATCH);
        const tails = await this.broker.lastIds(batch);
        for (let k = 0; k < batch.length; k++)
          this.rooms.get(batch[k] as string)?.checkTail(tails[k] as string, tick);
      }
    } catch (err) {
      this.opts.log.warn({ err }, 'live delivery check failed');
    } finally {
      this.checking = false;
    }
  }
}

export type { HealReason, Room };
