import {
  type ClientFrame,
  CloseCode,
  decodeServerFrame,
  encodeFrame,
  handshakeProtocols,
  type ServerFrame,
  type ServerFrameOf,
} from '@chat/protocol';
import type { Emitter } from './emitter.js';
import type { Settings } from './settings.js';
import { closeQuietly, terminate } from './socket.js';
import type { ChatClientEvents, WebSocketLike } from './types.js';
import { Watchdog } from './watchdog.js';

/** Frames the link answers itself; every other one goes to `LinkEvents.frame`. */
export type RoutedFrame = Exclude<ServerFrame, { type: 'welcome' | 'ping' | 'pong' }>;

export interface LinkEvents {
  welcome(frame: ServerFrameOf<'welcome'>): void;
  frame(frame: RoutedFrame): void;
  /**
   * The socket is gone without us closing it: closed by the peer or the network, or dropped as
   * dead or stuck (1006). `welcomed`: whether it had got as far as `welcome`.
   */
  closed(code: number, reason: string, welcomed: boolean): void;
}

/** What Rooms and the Outbox need to put frames on the wire: the Link, seen narrowly. */
export interface FrameSender {
  /** The current socket's `welcome` (user, limits); undefined until then and once it is gone. */
  readonly welcome: ServerFrameOf<'welcome'> | undefined;
  /** A socket is there and has been welcomed: joins and sends may go. */
  isOpen(): boolean;
  /** False when there is no open socket or it refused the frame: the caller keeps it for later. */
  transmit(frame: ClientFrame): boolean;
}

/**
 * One WebSocket at a time, from the upgrade to its end: the connect timeout, the heartbeat
 * watchdog, decoding and answering pings. Whether and when to open the next one is not its call.
 */
export class Link implements FrameSender {
  private socket: WebSocketLike | undefined;
  private welcomeFrame: ServerFrameOf<'welcome'> | undefined;
  private connectTimer: unknown;
  private readonly watchdog: Watchdog;

  constructor(
    private readonly settings: Settings,
    private readonly emitter: Emitter<ChatClientEvents>,
    private readonly events: LinkEvents,
  ) {
    this.watchdog = new Watchdog(settings.timers, settings.now, () => {
      if (this.socket) this.drop('heartbeat timeout');
    });
  }

  /** The `welcome` of the current socket, undefined until then. */
  get welcome(): ServerFrameOf<'welcome'> | undefined {
    return this.welcomeFrame;
  }

  isOpen(): boolean {
    // Set on `welcome`, cleared with the socket (reset()).
    return this.welcomeFrame !== undefined;
  }

  /** Throws when no socket can be made (no implementation, bad URL). */
  open(token: string): void {
    const Ctor = this.settings.WebSocket;
    if (!Ctor) throw new Error('no WebSocket implementation: pass options.WebSocket');
    const socket = new Ctor(this.settings.url, handshakeProtocols(token));
    this.socket = socket;
    // Checked on every event: a socket we replaced or gave up on may still report.
    socket.onmessage = (event: { data: unknown }) => {
      if (this.socket === socket) this.onData(event.data);
    };
    socket.onclose = (event: { code: number; reason: string }) => {
      if (this.socket !== socket) return;
      const welcomed = this.reset();
      this.events.closed(event.code || CloseCode.Abnormal, event.reason ?? '', welcomed);
    };
    // An error is always followed by a close event, which is where the client reacts.
    socket.onerror = () => {};
    this.connectTimer = this.settings.timers.setTimeout(() => {
      if (this.socket === socket) this.drop('connect timeout');
    }, this.settings.connectTimeoutMs);
  }

  /** Closes with a handshake; being our own doing, it is not reported through `closed`. */
  close(code: number, reason: string): void {
    const socket = this.socket;
    this.reset();
    if (socket) closeQuietly(socket, code, reason);
  }

  /** Gives up on the socket without waiting for a close handshake (dead or stuck). */
  drop(reason: string): void {
    const socket = this.socket;
    const welcomed = this.reset();
    if (socket) terminate(socket);
    this.events.closed(CloseCode.Abnormal, reason, welcomed);
  }

  /** Timers are throttled in hidden pages, so the watchdog may be late: this checks it now. */
  overdue(): boolean {
    return this.watchdog.overdue();
  }

  /** False when there is no open socket or it refused the frame: the caller keeps it for later. */
  transmit(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (socket?.readyState !== 1) return false;
    try {
      socket.send(encodeFrame(frame));
      return true;
    } catch {
      return false;
    }
  }

  private onData(data: unknown): void {
    if (typeof data !== 'string') return;
    this.watchdog.feed();
    const decoded = decodeServerFrame(data);
    if (!decoded.ok) {
      this.emitter.emit('invalidFrame', { raw: data, message: decoded.message });
      return;
    }
    const frame = decoded.frame;
    switch (frame.type) {
      case 'welcome':
        this.clearConnectTimer();
        this.welcomeFrame = frame;
        this.watchdog.start(this.settings.watchdogMs ?? frame.heartbeatMs * this.settings.heartbeatGrace);
        this.events.welcome(frame);
        return;
      case 'ping':
        this.transmit(frame.t === undefined ? { type: 'pong' } : { type: 'pong', t: frame.t });
        return;
      case 'pong':
        // Its only use was to feed the watchdog, done above.
        return;
      default:
        this.events.frame(frame);
    }
  }

  /** Forgets the socket and its timers; returns whether it had been welcomed. */
  private reset(): boolean {
    const welcomed = this.welcomeFrame !== undefined;
    this.socket = undefined;
    this.welcomeFrame = undefined;
    this.clearConnectTimer();
    this.watchdog.stop();
    return welcomed;
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) this.settings.timers.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}
