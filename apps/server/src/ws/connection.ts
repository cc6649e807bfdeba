import type { Socket } from 'node:net';
import { CloseCode, type ErrorCode, encodeCloseReason, type Member } from '@chat/protocol';
import type { WebSocket } from 'ws';
import type { VerifiedUser } from '../auth/tokens.js';
import { errorFrame, framePayload } from './frames.js';
import { rawSocket } from './library-internals.js';
import { TokenBucket, WindowCounter } from './rate-limit.js';

export interface ConnLimits {
  ratePerS: number;
  rateBurst: number;
  sendBufferLimit: number;
  /** Told about every close the server initiates (for metrics). */
  onServerClose?: (code: number) => void;
}

const TEXT = { binary: false } as const;
/** A socket told to close that does not finish the close handshake is destroyed after this. */
const CLOSE_GRACE_MS = 3000;
/** How often a wait for a socket to drain looks again (besides its TCP socket's `drain`). */
const DRAIN_POLL_MS = 50;

export type Drained = 'ok' | 'closed' | 'stalled';

/** One client socket on this pod. */
export class Conn {
  /** Rooms joined or being joined; made on the first join (idle sockets carry none). */
  private joined: Set<string> | undefined;
  readonly bucket: TokenBucket;
  /** The user's bucket for messages, shared with the user's other sockets on this pod. */
  private sharedBucket: TokenBucket | undefined;
  /** Created on the first refused frame: most sockets never need one. */
  private violations: WindowCounter | undefined;
  private seenAt: number;
  /** Sends waiting for their append to finish; a drain waits for them before closing. */
  private inflight = 0;
  private isClosing = false;
  private isDraining = false;
  private expiry: number;
  private idle: (() => void) | undefined;
  private closed: Promise<void> | undefined;
  /** This socket's joins run one after another (each may read history): the last one queued. */
  private joinTail: Promise<void> | undefined;
  private queuedJoins = 0;
  /**
   * The TCP socket under `ws`, for writing pre-built frames. Only used when no extension
   * (permessage-deflate) was negotiated: then ws's sender never queues, writes to the socket
   * in call order, and frames written here interleave correctly with ws.send().
   */
  private readonly raw: Socket | undefined;

  readonly user: Member;
  /** Rooms the token allows; undefined means every room. */
  readonly allowedRooms: ReadonlySet<string> | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly id: string,
    auth: VerifiedUser,
    private readonly limits: ConnLimits,
    now: number,
    /** The client address the upgrade came from (for the per-IP cap). */
    readonly ip = '',
  ) {
    this.user = auth.user;
    this.allowedRooms = auth.rooms;
    this.expiry = auth.expiresAt;
    this.bucket = new TokenBucket(limits.ratePerS, limits.rateBurst, now);
    this.seenAt = now;
    this.raw = ws.extensions === '' ? rawSocket(ws) : undefined;
  }

  /** When the client last sent anything (epoch ms); the heartbeat drops silent sockets. */
  get lastSeen(): number {
    return this.seenAt;
  }

  /** Any inbound frame proves the client alive. */
  seen(now: number): void {
    this.seenAt = now;
  }

  /** Set once we decided to close: no more frames are queued. */
  get closing(): boolean {
    return this.isClosing;
  }

  /** Set by a drain: new sends are ignored (the client resends them after reconnecting). */
  get draining(): boolean {
    return this.isDraining;
  }

  startDrain(): void {
    this.isDraining = true;
  }

  /** When the token expires (epoch ms): the socket is closed 4401 then; a `refresh` moves it. */
  get expiresAt(): number {
    return this.expiry;
  }

  /** A verified `refresh` token moves the expiry (never the identity). */
  extendExpiry(expiresAt: number): void {
    this.expiry = expiresAt;
  }

  /** The user's message bucket, shared with the user's other sockets on this pod. */
  get userBucket(): TokenBucket | undefined {
    return this.sharedBucket;
  }

  useUserBucket(bucket: TokenBucket): void {
    this.sharedBucket = bucket;
  }

  /** Queues a frame; a socket whose backlog passes the bound is closed as a slow consumer. */
  send(data: string | Buffer): boolean {
    if (this.isClosing || this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(data, TEXT);
    if (this.ws.bufferedAmount > this.limits.sendBufferLimit) {
      this.close(CloseCode.TryAgainLater, 'slow consumer: too much unread data');
      return false;
    }
    return true;
  }

  /**
   * Queues complete frames built once per pod (textFrame): `data` is their bytes back to back,
   * written with one write; `frames` are the same frames one by one, for the ws.send() fallback.
   */
  sendFrames(data: Buffer, frames: readonly Buffer[]): boolean {
    if (this.isClosing || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.raw) {
      if (!this.raw.writable) return false;
      this.raw.write(data);
    } else {
      for (const f of frames) this.ws.send(framePayload(f), TEXT);
    }
    if (this.ws.bufferedAmount > this.limits.sendBufferLimit) {
      this.close(CloseCode.TryAgainLater, 'slow consumer: too much unread data');
      return false;
    }
    return true;
  }

  error(code: ErrorCode, message: string, ref?: string, retryAfterMs?: number): void {
    this.send(errorFrame(code, message, ref, retryAfterMs));
  }

  close(code: number, message: string, retryAfterMs?: number): Promise<void> {
    if (!this.isClosing) {
      this.isClosing = true;
      this.limits.onServerClose?.(code);
      if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
        this.ws.close(code, encodeCloseReason(message, retryAfterMs));
      }
      const timer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
      timer.unref();
      void this.whenClosed().then(() => clearTimeout(timer));
    }
    return this.whenClosed();
  }

  /** Drops a socket that stopped answering: no close handshake (it would not be answered). */
  terminate(): void {
    if (this.isClosing && this.ws.readyState === this.ws.CLOSED) return;
    this.isClosing = true;
    this.limits.onServerClose?.(1006);
    this.ws.terminate();
  }

  /** Resolves when no send of this socket is waiting on storage. */
  whenIdle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const prev = this.idle;
      this.idle = () => {
        prev?.();
        resolve();
      };
    });
  }

  /** A send is waiting on storage; paired with endSend(). */
  beginSend(): void {
    this.inflight++;
  }

  endSend(): void {
    this.inflight--;
    if (this.inflight === 0 && this.idle) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }

  /**
   * Runs `join` once this socket's earlier joins are done, so a socket reads one room's history
   * at a time. False (and nothing runs) when `max` joins are already queued.
   */
  queueJoin(max: number, join: () => Promise<void>): Promise<void> | false {
    if (this.queuedJoins >= max) return false;
    this.queuedJoins++;
    const run = (this.joinTail ?? Promise.resolve())
      .catch(() => {})
      .then(join)
      .finally(() => {
        this.queuedJoins--;
        if (this.joinTail === run) this.joinTail = undefined;
      });
    this.joinTail = run;
    return run;
  }

  /**
   * Resolves once at most `bytes` wait to be written to this socket: 'ok'; 'closed' when it
   * closed meanwhile; 'stalled' when it did not get there within `stallMs` (it does not read).
   */
  async drained(bytes: number, stallMs: number): Promise<Drained> {
    const deadline = Date.now() + stallMs;
    const socket = rawSocket(this.ws);
    while (this.ws.bufferedAmount > bytes) {
      if (this.isClosing || this.ws.readyState !== this.ws.OPEN) return 'closed';
      if (Date.now() >= deadline) return 'stalled';
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          socket?.off('drain', done);
          this.ws.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, DRAIN_POLL_MS);
        socket?.once('drain', done);
        this.ws.once('close', done);
      });
    }
    return this.isClosing || this.ws.readyState !== this.ws.OPEN ? 'closed' : 'ok';
  }

  /** The presence key of this socket: unique across pods. */
  presenceKey(nodeId: string): string {
    return `${nodeId}/${this.id}`;
  }

  inRoom(room: string): boolean {
    return this.joined?.has(room) ?? false;
  }

  get roomCount(): number {
    return this.joined?.size ?? 0;
  }

  addRoom(room: string): void {
    this.joined ??= new Set();
    this.joined.add(room);
  }

  removeRoom(room: string): void {
    this.joined?.delete(room);
  }

  roomNames(): string[] {
    return this.joined ? [...this.joined] : [];
  }

  /** Rate-limit refusals in the last 10 s, counting this one. */
  countViolation(now: number): number {
    this.violations ??= new WindowCounter(10_000);
    return this.violations.add(now);
  }

  /** Made on first use: an idle socket carries no promise or extra listener. */
  whenClosed(): Promise<void> {
    if (!this.closed) {
      const ws = this.ws;
      this.closed =
        ws.readyState === ws.CLOSED
          ? Promise.resolve()
          : new Promise((resolve) => ws.once('close', () => resolve()));
    }
    return this.closed;
  }
}
