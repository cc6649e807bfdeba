import type { ClientFrameOf, PresenceEntry } from '@chat/protocol';
import { compareIds, encodeStoredBody } from '@chat/protocol';
import { type Broker, OutcomeUnknownError } from '../broker/types.js';
import type { Metrics } from '../metrics.js';
import type { Conn } from './connection.js';
import { frame, joinedFrame, resyncFrame } from './frames.js';
import { TokenBucket } from './rate-limit.js';
import { RoomRegistry } from './rooms.js';
import { drainSockets, heartbeat } from './sweeps.js';

const UNAVAILABLE_RETRY_MS = 1000;

/** The hub's settings, built once from the config by the realtime plugin. */
export interface HubOptions {
  nodeId: string;
  maxRoomsPerConn: number;
  maxTextChars: number;
  historyPage: number;
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

  constructor(
    private readonly broker: Broker,
    private readonly opts: HubOptions,
    private readonly metrics: Metrics,
    private readonly log: Log,
  ) {
    this.rooms = new RoomRegistry(broker, metrics, {
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

  async join(conn: Conn, { room: name, since }: ClientFrameOf<'join'>): Promise<void> {
    if (conn.allowedRooms && !conn.allowedRooms.has(name)) {
      conn.error('forbidden_room', `your token does not allow room "${name}"`, name);
      return;
    }
    if (conn.inRoom(name)) this.detach(conn, name);
    if (conn.roomCount >= this.opts.maxRoomsPerConn) {
      conn.error('too_many_rooms', `at most ${this.opts.maxRoomsPerConn} rooms per connection`, name);
      return;
    }
    const room = this.rooms.acquire(name);
    const buffered = room.beginJoin(conn);
    conn.addRoom(name);
    try {
      await room.whenReady();
      const self: PresenceEntry = {
        key: conn.presenceKey(this.nodeId),
        id: conn.user.id,
        name: conn.user.name,
      };
      const presence = room.members().filter((p) => p.key !== self.key);
      presence.push(self);
      // Subscribed before reading: anything stored after this read is already queued in `buffered`.
      const range = since === undefined ? undefined : await this.broker.range(name, since);
      let reply: string;
      let lastSent: string | undefined;
      if (range?.complete) {
        reply = joinedFrame(name, range.entries, presence, true);
        lastSent = range.entries.at(-1)?.id ?? since;
      } else {
        const page = await this.broker.latest(name, this.opts.historyPage);
        reply = range
          ? resyncFrame(name, range.reason, page, presence)
          : joinedFrame(name, page, presence, false);
        lastSent = page.at(-1)?.id;
      }
      if (!room.stillJoining(conn, buffered)) return; // left or closed meanwhile
      conn.send(reply);
      for (const f of buffered)
        if (lastSent === undefined || compareIds(f.id, lastSent) > 0) conn.send(f.data);
      this.metrics.framesOut.inc(room.goLive(conn, lastSent));
      this.broker.presence
        .add(name, self)
        .catch((err: unknown) => this.log.warn({ err }, 'presence add failed'));
    } catch (err) {
      this.log.warn({ err, room: name }, 'join failed');
      if (room.stillJoining(conn, buffered)) {
        room.remove(conn);
        conn.removeRoom(name);
        this.rooms.releaseIfEmpty(room);
      }
      conn.error(
        'unavailable',
        'room history is unavailable right now; try again',
        name,
        UNAVAILABLE_RETRY_MS,
      );
    }
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
