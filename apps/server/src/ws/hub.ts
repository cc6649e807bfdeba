import type { ClientFrameOf, PresenceEntry } from '@chat/protocol';
import { compareIds, encodeStoredBody } from '@chat/protocol';
import { type Broker, OutcomeUnknownError } from '../broker/types.js';
import type { Metrics } from '../metrics.js';
import type { Conn } from './connection.js';
import { frame } from './frames.js';
import { HistoryBusyError, HistoryGate } from './history-gate.js';
import { TokenBucket } from './rate-limit.js';
import { Replayer } from './replay.js';
import type { BufferedFrame } from './room-members.js';
import { presenceChange } from './room-presence.js';
import { type Room, RoomRegistry } from './rooms.js';
import { drainSockets, heartbeat } from './sweeps.js';

const UNAVAILABLE_RETRY_MS = 1000;
/** When a join refused `busy` should be asked again (the client jitters around it). */
const BUSY_RETRY_MS = 1000;

/** The hub's settings, built once from the config by the realtime plugin. */
export interface HubOptions {
  nodeId: string;
  maxRoomsPerConn: number;
  maxTextChars: number;
  historyPage: number;
  /** Entries per history read of a replay (HISTORY_REPLAY_PAGE). */
  replayPage: number;
  /** Joins reading history at once on this pod, and waiting before new ones are refused `busy`. */
  historyReads: number;
  historyReadQueue: number;
  /** Bytes of history this pod reads per second at most (0 = no limit). */
  historyBytesPerS: number;
  /** SEND_BUFFER_LIMIT_BYTES: a replay writes a quarter of it at a time. */
  sendBufferLimit: number;
  userRatePerS: number;
  userRateBurst: number;
  heartbeatMs: number;
  liveCheckMs: number;
}

type Log = { warn(obj: object, msg: string): void };

/**
 * The sockets of this pod and what they ask for: joins (gap-free replay, then live), leaves,
 * sends (acked once durable), per-user buckets and the sweeps. Rooms and live delivery live in
 * the RoomRegistry and Room.
 */
export class Hub {
  readonly conns = new Set<Conn>();
  readonly rooms: RoomRegistry;
  /** One message bucket per user on this pod, shared by all of the user's sockets. */
  private readonly users = new Map<string, { bucket: TokenBucket; sockets: number }>();
  private readonly replayer: Replayer;

  constructor(
    private readonly broker: Broker,
    private readonly opts: HubOptions,
    private readonly metrics: Metrics,
    private readonly log: Log,
  ) {
    const gate = new HistoryGate({
      concurrency: opts.historyReads,
      maxQueued: opts.historyReadQueue,
      bytesPerS: opts.historyBytesPerS,
    });
    this.replayer = new Replayer(
      broker,
      gate,
      {
        page: opts.replayPage,
        historyPage: opts.historyPage,
        chunkBytes: Math.max(1, Math.floor(opts.sendBufferLimit / 4)),
        // A socket that does not read its replay for two heartbeats is gone or hostile.
        stallMs: 2 * opts.heartbeatMs,
      },
      (obj, msg) => log.warn(obj, msg),
    );
    this.rooms = new RoomRegistry(broker, metrics, {
      gate,
      replayPage: opts.replayPage,
      historyPage: opts.historyPage,
      liveCheckMs: opts.liveCheckMs,
      log,
    });
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  add(conn: Conn): void {
    this.conns.add(conn);
    this.metrics.connections.set(this.conns.size);
    this.metrics.connectionsTotal.inc();
  }

  /**
   * The user's message bucket, shared by the user's sockets on this pod. Made on a socket's
   * first send, so idle sockets (most of them) carry none.
   */
  userBucket(conn: Conn): TokenBucket {
    if (conn.userBucket) return conn.userBucket;
    let user = this.users.get(conn.user.id);
    if (!user) {
      user = {
        bucket: new TokenBucket(this.opts.userRatePerS, this.opts.userRateBurst, Date.now()),
        sockets: 0,
      };
      this.users.set(conn.user.id, user);
    }
    user.sockets++;
    conn.useUserBucket(user.bucket);
    return user.bucket;
  }

  /** The socket is gone: leave every room without a reply. */
  remove(conn: Conn): void {
    if (!this.conns.delete(conn)) return;
    this.metrics.connections.set(this.conns.size);
    const user = conn.userBucket && this.users.get(conn.user.id);
    if (user && --user.sockets === 0) this.users.delete(conn.user.id);
    for (const room of conn.roomNames()) this.detach(conn, room);
  }

  // ---- client requests ----------------------------------------------------------------

  join(conn: Conn, { room: name, since }: ClientFrameOf<'join'>): Promise<void> {
    if (conn.allowedRooms && !conn.allowedRooms.has(name)) {
      conn.error('forbidden_room', `your token does not allow room "${name}"`, name);
      return Promise.resolve();
    }
    if (conn.inRoom(name)) this.detach(conn, name);
    if (conn.roomCount >= this.opts.maxRoomsPerConn) {
      conn.error('too_many_rooms', `at most ${this.opts.maxRoomsPerConn} rooms per connection`, name);
      return Promise.resolve();
    }
    const room = this.rooms.acquire(name);
    const buffered = room.beginJoin(conn);
    conn.addRoom(name);
    // One join at a time per socket: each may read a room's history.
    const queued = conn.queueJoin(this.opts.maxRoomsPerConn, () =>
      this.serveJoin(conn, room, buffered, since),
    );
    if (queued) return queued;
    this.abandonJoin(conn, room, buffered);
    this.busy(conn, name);
    return Promise.resolve();
  }

  /** Replays what the socket asked for, then hands it the live messages buffered meanwhile. */
  private async serveJoin(conn: Conn, room: Room, buffered: BufferedFrame[], since?: string): Promise<void> {
    const name = room.name;
    try {
      await room.whenReady();
      if (!room.stillJoining(conn, buffered)) return; // left, rejoined or closed while queued
      const self: PresenceEntry = {
        key: conn.presenceKey(this.nodeId),
        id: conn.user.id,
        name: conn.user.name,
      };
      const presence = () => [...room.members().filter((p) => p.key !== self.key), self];
      // Subscribed before reading: anything stored after the reads is already queued in `buffered`.
      const sent = await this.replayer.reply(
        { conn, room: name, still: () => room.stillJoining(conn, buffered), presence },
        since,
      );
      if (sent === false || !room.stillJoining(conn, buffered)) return;
      const { lastSent } = sent;
      for (const f of buffered)
        if (lastSent === undefined || compareIds(f.id, lastSent) > 0) conn.send(f.data);
      this.metrics.framesOut.inc(room.goLive(conn, lastSent));
      // A long replay: whoever came or went meanwhile (joining sockets get no presence frames).
      const change = presenceChange(sent.presence, presence());
      if (change) conn.send(frame({ type: 'presence', room: name, ...change }));
      this.broker.presence
        .add(name, self)
        .catch((err: unknown) => this.log.warn({ err }, 'presence add failed'));
    } catch (err) {
      this.abandonJoin(conn, room, buffered);
      if (err instanceof HistoryBusyError) {
        this.busy(conn, name);
        return;
      }
      this.log.warn({ err, room: name }, 'join failed');
      conn.error(
        'unavailable',
        'room history is unavailable right now; try again',
        name,
        UNAVAILABLE_RETRY_MS,
      );
    }
  }

  /** A join that will not be served: the socket is no longer a member. */
  private abandonJoin(conn: Conn, room: Room, buffered: BufferedFrame[]): void {
    if (!room.stillJoining(conn, buffered)) return;
    room.remove(conn);
    conn.removeRoom(room.name);
    this.rooms.releaseIfEmpty(room);
  }

  private busy(conn: Conn, room: string): void {
    this.metrics.errors.inc({ code: 'busy' });
    conn.error(
      'busy',
      'this server is reading as much history as it allows; join again shortly',
      room,
      BUSY_RETRY_MS,
    );
  }

  leave(conn: Conn, { room }: ClientFrameOf<'leave'>): void {
    if (conn.inRoom(room)) this.detach(conn, room);
    conn.send(frame({ type: 'left', room }));
  }

  async send(conn: Conn, { room, clientMsgId, text }: ClientFrameOf<'send'>): Promise<void> {
    if (!conn.inRoom(room)) {
      conn.error('not_joined', `join "${room}" before sending to it`, clientMsgId);
      return;
    }
    if (text.length > this.opts.maxTextChars) {
      conn.error(
        'text_too_long',
        `messages are limited to ${this.opts.maxTextChars} characters`,
        clientMsgId,
      );
      return;
    }
    const body = encodeStoredBody({ room, from: conn.user, text, ts: Date.now(), clientMsgId });
    // Keyed by clientMsgId alone (a random id per message): a resend after a token refresh,
    // which may carry a new user id, must still be recognised.
    conn.beginSend();
    try {
      const outcome = await this.broker.append(room, body, clientMsgId);
      this.metrics.acked.inc({ duplicate: String(outcome.duplicate) });
      // A draining socket is closed only after this ack is queued.
      conn.send(frame({ type: 'ack', room, clientMsgId, id: outcome.id, duplicate: outcome.duplicate }));
    } catch (err) {
      this.log.warn({ err, room }, 'append failed');
      const unknown = mayHaveRun(err);
      this.metrics.errors.inc({ code: unknown ? 'outcome_unknown' : 'unavailable' });
      conn.error(
        unknown ? 'outcome_unknown' : 'unavailable',
        unknown
          ? 'the store did not answer; the message may or may not be stored: resend it with the same clientMsgId'
          : 'message not stored; it is safe to resend it',
        clientMsgId,
        UNAVAILABLE_RETRY_MS,
      );
    } finally {
      conn.endSend();
    }
  }

  // ---- sweeps over every socket ------------------------------------------------------------

  drain(windowMs: number, retryHintMs: number): Promise<number> {
    return drainSockets([...this.conns], windowMs, retryHintMs, () => this.metrics.drainClosed.inc());
  }

  heartbeat(now: number): void {
    heartbeat(this.conns, now, this.opts.heartbeatMs);
  }

  close(): void {
    this.rooms.close();
  }

  // ---- internals ------------------------------------------------------------------------

  private detach(conn: Conn, name: string): void {
    conn.removeRoom(name);
    const room = this.rooms.get(name);
    if (!room) return;
    if (room.remove(conn)) {
      this.broker.presence
        .remove(name, conn.presenceKey(this.nodeId))
        .catch((err: unknown) => this.log.warn({ err }, 'presence remove failed'));
    }
    this.rooms.releaseIfEmpty(room);
  }
}

/**
 * Whether a failed append may still have been applied: a command that was written and then
 * timed out or lost its connection may have run; one refused before it was sent did not.
 */
function mayHaveRun(err: unknown): boolean {
  if (err instanceof OutcomeUnknownError) return true;
  const message = err instanceof Error ? err.message : String(err);
  return /timed? ?out|connection (is )?closed|max retries|ECONNRESET|EPIPE|socket closed/i.test(message);
}
