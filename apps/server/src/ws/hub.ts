import { type ClientFrameOf, compareIds, type PresenceEntry } from '@chat/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { Broker, BrokerListener, PresenceDelta } from '../broker/types.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Conn } from './connection.js';
import { frame, idTime, joinedFrame, resyncFrame } from './frames.js';
import { TokenBucket } from './rate-limit.js';
import { type BufferedFrame, Room } from './room.js';
import { drainSockets, heartbeat } from './sweeps.js';

const PRESENCE_FLUSH_MS = 50;
const CATCH_UP_RETRY_MS = 1000;
const UNAVAILABLE_RETRY_MS = 1000;

/**
 * Rooms and sockets of this pod, and the bridge to the broker: joins (gap-free replay, then
 * live), sends (acked once durable), and what the broker delivers. Per-room delivery lives
 * in Room; timed sweeps over all sockets in sweeps.ts.
 */
export class Hub implements BrokerListener {
  readonly conns = new Set<Conn>();
  private readonly rooms = new Map<string, Room>();
  /** Rooms with messages waiting for the end of this event-loop turn. */
  private readonly dirty = new Set<Room>();
  /** One message bucket per user on this pod, shared by all of the user's sockets. */
  private readonly users = new Map<string, { bucket: TokenBucket; sockets: number }>();

  constructor(
    private readonly broker: Broker,
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
  ) {
    broker.setListener(this);
  }

  get nodeId(): string {
    return this.config.NODE_ID;
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
      const { USER_RATE_LIMIT_PER_S, USER_RATE_LIMIT_BURST } = this.config;
      user = {
        bucket: new TokenBucket(USER_RATE_LIMIT_PER_S, USER_RATE_LIMIT_BURST, Date.now()),
        sockets: 0,
      };
      this.users.set(conn.user.id, user);
    }
    user.sockets++;
    conn.userBucket = user.bucket;
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
    if (conn.roomCount >= this.config.MAX_ROOMS_PER_CONN) {
      conn.error('too_many_rooms', `at most ${this.config.MAX_ROOMS_PER_CONN} rooms per connection`, name);
      return;
    }
    const room = this.room(name);
    const buffered: BufferedFrame[] = [];
    room.joining.set(conn, buffered);
    conn.addRoom(name);
    try {
      await room.ready;
      let reply: string;
      let lastSent: string | undefined;
      const self: PresenceEntry = {
        key: conn.presenceKey(this.nodeId),
        id: conn.user.id,
        name: conn.user.name,
      };
      const presence = [...room.presence.values()].filter((p) => p.key !== self.key);
      presence.push(self);
      // Subscribed before reading: anything stored after this read is already queued in `buffered`.
      const range = since === undefined ? undefined : await this.broker.range(name, since);
      if (range?.complete) {
        reply = joinedFrame(name, range.entries, presence, true);
        lastSent = range.entries.at(-1)?.id ?? since;
      } else {
        const page = await this.broker.latest(name, this.config.HISTORY_PAGE);
        reply = range
          ? resyncFrame(name, range.reason, page, presence)
          : joinedFrame(name, page, presence, false);
        lastSent = page.at(-1)?.id;
      }
      if (room.joining.get(conn) !== buffered) return; // left or closed meanwhile
      conn.send(reply);
      for (const f of buffered)
        if (lastSent === undefined || compareIds(f.id, lastSent) > 0) conn.send(f.data);
      this.dirty.delete(room);
      this.metrics.framesOut.inc(room.goLive(conn, lastSent));
      this.broker
        .presenceAdd(name, self)
        .catch((err: unknown) => this.log.warn({ err }, 'presence add failed'));
    } catch (err) {
      this.log.warn({ err, room: name }, 'join failed');
      if (room.joining.get(conn) === buffered) {
        room.joining.delete(conn);
        conn.removeRoom(name);
        this.disposeIfEmpty(room);
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
    if (text.length > this.config.MAX_TEXT_CHARS) {
      conn.error(
        'text_too_long',
        `messages are limited to ${this.config.MAX_TEXT_CHARS} characters`,
        clientMsgId,
      );
      return;
    }
    const body = JSON.stringify({ room, from: conn.user, text, ts: Date.now(), clientMsgId });
    // Keyed by clientMsgId alone (a random id per message): a resend after a token refresh,
    // which may carry a new user id, must still be recognised.
    conn.inflight++;
    try {
      const { id, duplicate } = await this.broker.append(room, body, clientMsgId);
      this.metrics.acked.inc({ duplicate: String(duplicate) });
      // A draining socket is closed only after this ack is queued.
      conn.send(frame({ type: 'ack', room, clientMsgId, id, duplicate }));
    } catch (err) {
      this.log.warn({ err, room }, 'append failed');
      conn.error(
        'unavailable',
        'message not stored; it is safe to resend it',
        clientMsgId,
        UNAVAILABLE_RETRY_MS,
      );
    } finally {
      conn.endSend();
    }
  }

  // ---- broker events --------------------------------------------------------------------

  message(name: string, id: string, body: string): void {
    const room = this.rooms.get(name);
    if (!room) return;
    if (room.catchUp) room.catchUp.push({ id, body });
    else this.fanout(room, id, body);
  }

  presence(name: string, delta: PresenceDelta): void {
    const room = this.rooms.get(name);
    if (!room?.applyPresence(delta)) return;
    room.presenceTimer = setTimeout(
      () => this.metrics.framesOut.inc(room.flushPresence()),
      PRESENCE_FLUSH_MS,
    );
  }

  resubscribed(): void {
    for (const room of this.rooms.values()) void this.catchUp(room);
  }

  // ---- sweeps over every socket ------------------------------------------------------------

  drain(windowMs: number, retryHintMs: number): Promise<number> {
    return drainSockets([...this.conns], windowMs, retryHintMs, () => this.metrics.drainClosed.inc());
  }

  heartbeat(now: number): void {
    heartbeat(this.conns, now, this.config.HEARTBEAT_MS);
  }

  // ---- internals ------------------------------------------------------------------------

  private room(name: string): Room {
    let room = this.rooms.get(name);
    if (room) return room;
    room = new Room(name);
    this.rooms.set(name, room);
    this.metrics.rooms.set(this.rooms.size);
    const r = room;
    room.ready = (async () => {
      r.baseline = await this.broker.lastId(name);
      await this.broker.subscribe(name);
      const list = await this.broker.presenceList(name);
      for (const p of list)
        if (!r.removedDuringInit?.has(p.key) && !r.presence.has(p.key)) r.presence.set(p.key, p);
      r.removedDuringInit = undefined;
    })();
    room.ready.catch(() => {
      // A failed subscription must not stick: drop the room so the next join starts over.
      if (this.rooms.get(name) === r) {
        this.rooms.delete(name);
        this.metrics.rooms.set(this.rooms.size);
        this.broker.unsubscribe(name).catch(() => {});
      }
    });
    return room;
  }

  private detach(conn: Conn, name: string): void {
    conn.removeRoom(name);
    const room = this.rooms.get(name);
    if (!room) return;
    if (room.remove(conn)) {
      this.broker
        .presenceRemove(name, conn.presenceKey(this.nodeId))
        .catch((err: unknown) => this.log.warn({ err }, 'presence remove failed'));
    }
    this.disposeIfEmpty(room);
  }

  private disposeIfEmpty(room: Room): void {
    if (room.size > 0 || this.rooms.get(room.name) !== room) return;
    this.rooms.delete(room.name);
    this.dirty.delete(room);
    room.dispose();
    this.metrics.rooms.set(this.rooms.size);
    this.broker.unsubscribe(room.name).catch((err: unknown) => this.log.warn({ err }, 'unsubscribe failed'));
  }

  private fanout(room: Room, id: string, body: string): void {
    if (!room.accept(id, body)) return;
    this.metrics.fanoutLatency.observe(Math.max(0, Date.now() - idTime(id)) / 1000);
    if (this.dirty.size === 0) setImmediate(() => this.flushAll());
    this.dirty.add(room);
  }

  private flushAll(): void {
    let sent = 0;
    for (const room of this.dirty) sent += room.flush();
    this.dirty.clear();
    this.metrics.framesOut.inc(sent);
  }

  /** Reads what live delivery missed while the subscriber was reconnecting, then goes live. */
  private async catchUp(room: Room): Promise<void> {
    room.catchUp ??= [];
    try {
      await room.ready;
      const result = await this.broker.range(room.name, room.lastDelivered ?? room.baseline);
      if (result.complete) {
        for (const e of result.entries) this.fanout(room, e.id, e.body);
      } else {
        // More was missed than history keeps: tell every member to start over from the latest page.
        const page = await this.broker.latest(room.name, this.config.HISTORY_PAGE);
        const data = resyncFrame(room.name, result.reason, page, [...room.presence.values()]);
        this.dirty.delete(room);
        this.metrics.framesOut.inc(room.flush());
        for (const conn of room.live) conn.send(data);
        room.lastDelivered = page.at(-1)?.id ?? room.lastDelivered;
      }
      await this.refreshPresence(room);
    } catch (err) {
      this.log.warn({ err, room: room.name }, 'catch-up after reconnect failed; retrying');
      const timer = setTimeout(() => {
        if (this.rooms.get(room.name) === room) void this.catchUp(room);
      }, CATCH_UP_RETRY_MS);
      timer.unref();
      return;
    }
    const queued = room.catchUp ?? [];
    room.catchUp = undefined;
    for (const m of queued) this.fanout(room, m.id, m.body);
  }

  /** Presence changes may have been missed too: diff against the stored list. */
  private async refreshPresence(room: Room): Promise<void> {
    const list = await this.broker.presenceList(room.name);
    const seen = new Set<string>();
    for (const p of list) {
      seen.add(p.key);
      if (!room.presence.has(p.key)) this.presence(room.name, { join: p });
    }
    for (const key of [...room.presence.keys()]) if (!seen.has(key)) this.presence(room.name, { leave: key });
  }
}
