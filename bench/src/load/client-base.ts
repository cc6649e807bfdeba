import { nowUs } from './protocol.js';

/** What a client tells its worker. */
export interface Sink {
  /** A chat message reached this client; `live` is false for messages replayed on (re)join. */
  delivered(client: BenchClient, room: string, clientMsgId: string, text: string, live: boolean): void;
  acked(client: BenchClient, room: string, clientMsgId: string): void;
  error(client: BenchClient, code: string): void;
  /** The client is connected and has joined every room again after a close it did not ask for. */
  recovered(client: BenchClient): void;
}

export interface ClientOptions {
  index: number;
  url: string;
  rooms: string[];
  token: string | undefined;
  localAddress: string | undefined;
  reconnect: boolean;
  /** Pods to reconnect to (a random one each time). */
  reconnectUrls: () => string[];
  track: boolean;
  sink: Sink;
}

export interface Pending {
  room: string;
  clientMsgId: string;
  text: string;
}

/** Full-jitter exponential backoff: random in [0, min(cap, base * 2^attempt)]. */
function backoff(attempt: number, baseMs = 250, capMs = 5000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

/**
 * One load client, independent of the system behind it: connects, joins its rooms, sends,
 * and (when `reconnect` is set) comes back after a close it did not ask for, rejoins its
 * rooms (resuming where the system supports it) and resends what was never acknowledged.
 */
export abstract class BenchClient {
  readonly index: number;
  readonly rooms: string[];
  url: string;
  state: 'idle' | 'connecting' | 'open' | 'down' | 'closed' = 'idle';
  /** Messages sent (or composed while down) and not acknowledged yet, in order. */
  readonly pending = new Map<string, Pending>();
  /** clientMsgId -> times received (only with `track`). */
  readonly received: Map<string, number> | undefined;
  closedAtUs = 0;
  rejoinedAtUs = 0;
  closes = 0;
  recoveries = 0;
  attempts = 0;
  refused = 0;
  readonly closeCodes = new Map<number, number>();
  resent = 0;
  protected readonly opts: ClientOptions;
  private retry: NodeJS.Timeout | undefined;

  constructor(opts: ClientOptions) {
    this.opts = opts;
    this.index = opts.index;
    this.rooms = opts.rooms;
    this.url = opts.url;
    this.received = opts.track ? new Map() : undefined;
  }

  /** Connects and joins every room; rejects when the connection or a join fails. */
  async start(): Promise<void> {
    this.state = 'connecting';
    await this.connect(this.url);
    await Promise.all(this.rooms.map((room) => this.join(room)));
    this.state = 'open';
  }

  /** Sends now when open; otherwise queues it for after the reconnect (like a real client's outbox). */
  send(room: string, clientMsgId: string, text: string): void {
    const p = { room, clientMsgId, text };
    this.pending.set(clientMsgId, p);
    if (this.state === 'open') this.transmit(p);
  }

  stop(): void {
    this.state = 'closed';
    clearTimeout(this.retry);
    this.disconnect();
  }

  protected onDelivered(room: string, clientMsgId: string, text: string, live: boolean): void {
    if (this.received) this.received.set(clientMsgId, (this.received.get(clientMsgId) ?? 0) + 1);
    this.opts.sink.delivered(this, room, clientMsgId, text, live);
  }

  protected onAck(room: string, clientMsgId: string): void {
    if (this.pending.delete(clientMsgId)) this.opts.sink.acked(this, room, clientMsgId);
  }

  /** The connection ended; `hintMs` is the server's suggested reconnect delay, if any. */
  protected onClosed(code: number, hintMs: number | undefined): void {
    if (this.state === 'closed' || this.state === 'down') return;
    const wasUp = this.state === 'open';
    this.state = 'down';
    if (wasUp) {
      this.closes++;
      this.closedAtUs = nowUs();
      this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
    }
    if (!this.opts.reconnect) return;
    this.schedule(hintMs === undefined ? backoff(0, 500, 1500) : Math.random() * hintMs);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.reconnect(), delayMs);
  }

  private async reconnect(): Promise<void> {
    if (this.state !== 'down') return;
    const urls = this.opts.reconnectUrls();
    this.url = urls[Math.floor(Math.random() * urls.length)] ?? this.url;
    this.attempts++;
    try {
      this.state = 'connecting';
      await this.connect(this.url);
      await Promise.all(this.rooms.map((room) => this.join(room)));
    } catch (err) {
      this.disconnect();
      if ((this.state as string) === 'closed') return;
      if (err instanceof Refused) this.refused++;
      this.state = 'down';
      this.schedule(backoff(Math.min(this.attempts, 5)));
      return;
    }
    if ((this.state as string) === 'closed') return;
    this.state = 'open';
    this.attempts = 0;
    this.rejoinedAtUs = nowUs();
    this.recoveries++;
    this.opts.sink.recovered(this);
    for (const p of this.pending.values()) {
      this.resent++;
      this.transmit(p);
    }
  }

  protected abstract connect(url: string): Promise<void>;
  protected abstract join(room: string): Promise<void>;
  protected abstract transmit(p: Pending): void;
  protected abstract disconnect(): void;
}

export class Refused extends Error {}
