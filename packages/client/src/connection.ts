import { CloseCode, closeInfo, type ServerFrameOf } from '@chat/protocol';
import { planReconnect } from './backoff.js';
import type { Emitter } from './emitter.js';
import { type FrameSender, Link, type RoutedFrame } from './link.js';
import type { Settings } from './settings.js';
import { TokenRefresh } from './token-refresh.js';
import type { ChatClientEvents, ConnectionStatus } from './types.js';

export interface ConnectionHooks {
  /** After `welcome`: the socket is usable for joins and sends. */
  opened(): void;
  /** The socket is gone, whatever the reason (`close()` included). */
  disconnected(): void;
  frame(frame: RoutedFrame): void;
}

type Cause = Pick<ConnectionStatus, 'code' | 'reason' | 'action'>;
type TimerName = 'retryTimer' | 'healthyTimer';

/**
 * Keeps a socket (a Link) open while wanted: re-opens it with backoff per close code, asks for
 * tokens, follows the network and page visibility, and publishes the status. It knows nothing
 * about rooms.
 */
export class Connection {
  private wanted = false;
  private readonly link: Link;
  /** Raised for every attempt and on close(): an answer to an older token request is ignored. */
  private generation = 0;
  private attempt = 0;
  private failedBeforeOpen = 0;
  private refreshToken = false;
  private online: boolean;
  private statusValue: ConnectionStatus;
  private retryTimer: unknown;
  private healthyTimer: unknown;
  private unsubscribeEnvironment: (() => void) | undefined;
  private readonly refresh: TokenRefresh;

  constructor(
    private readonly settings: Settings,
    private readonly emitter: Emitter<ChatClientEvents>,
    private readonly hooks: ConnectionHooks,
  ) {
    this.online = settings.environment?.isOnline() ?? true;
    this.statusValue = { state: 'closed', attempt: 0, online: this.online };
    this.link = new Link(settings, emitter, {
      welcome: (frame) => this.onWelcome(frame),
      frame: (frame) => {
        if (frame.type === 'refreshed') this.refresh.schedule(frame.expiresInMs);
        else if (frame.type === 'error' && frame.code === 'bad_token') this.refresh.refused();
        hooks.frame(frame);
      },
      closed: (code, reason, welcomed) => this.handleClose(code, reason, welcomed),
    });
    this.refresh = new TokenRefresh(settings, (frame) => this.link.transmit(frame));
  }

  get status(): ConnectionStatus {
    return this.statusValue;
  }

  /** The Link, for those that send on it (rooms, outbox); one per client, sockets come and go in it. */
  get sender(): FrameSender {
    return this.link;
  }

  connect(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.attempt = 0;
    this.failedBeforeOpen = 0;
    this.refreshToken = false;
    this.attachEnvironment();
    void this.startAttempt();
  }

  close(reason: string): void {
    this.wanted = false;
    this.generation++;
    this.detachEnvironment();
    this.clearTimer('healthyTimer');
    this.clearTimer('retryTimer');
    this.refresh.cancel();
    this.link.close(CloseCode.Normal, reason);
    this.hooks.disconnected();
    this.setStatus({ state: 'closed', code: CloseCode.Normal, reason, attempt: this.attempt });
  }

  /** While waiting to reconnect: starts the next attempt now instead of at its timer. */
  retryNow(): boolean {
    if (!this.wanted || this.statusValue.state !== 'reconnecting') return false;
    void this.startAttempt();
    return true;
  }

  ping(): void {
    if (this.link.isOpen()) this.link.transmit({ type: 'ping', t: this.settings.now() });
  }

  // ---- attempts and closes -----------------------------------------------------------------

  private async startAttempt(): Promise<void> {
    this.clearTimer('retryTimer');
    if (!this.wanted) return;
    if (!this.online) {
      this.waitForNetwork();
      return;
    }
    const generation = ++this.generation;
    this.setStatus({ state: 'connecting', attempt: this.attempt, ...carry(this.statusValue) });

    let token: string;
    try {
      token = await this.settings.getToken({
        forceRefresh: this.refreshToken,
        attempt: this.attempt,
        failedBeforeOpen: this.failedBeforeOpen,
      });
    } catch (err) {
      if (generation !== this.generation) return;
      this.handleClose(CloseCode.Abnormal, `could not get a token: ${errorMessage(err)}`, false);
      return;
    }
    if (generation !== this.generation || !this.wanted) return;
    this.refreshToken = false;

    try {
      this.link.open(token);
    } catch (err) {
      this.handleClose(CloseCode.Abnormal, errorMessage(err), false);
    }
  }

  private handleClose(code: number, rawReason: string, welcomed: boolean): void {
    if (!welcomed) this.failedBeforeOpen++;
    this.clearTimer('healthyTimer');
    this.refresh.cancel();
    this.hooks.disconnected();
    if (!this.wanted) return;
    const plan = planReconnect(code, rawReason, this.attempt, this.settings.backoff, this.settings.random);
    const reason = plan.message || closeInfo(code)?.meaning || `closed with code ${code}`;
    if (plan.action === 'stay-closed') {
      this.wanted = false;
      this.detachEnvironment();
      this.setStatus({ state: 'closed', code, reason, action: plan.action, attempt: this.attempt });
      return;
    }
    this.attempt = plan.nextAttempt;
    if (plan.refreshToken) this.refreshToken = true;
    if (!this.online) {
      this.waitForNetwork({ code, reason, action: plan.action });
      return;
    }
    const retryAt = this.settings.now() + plan.delayMs;
    this.retryTimer = this.settings.timers.setTimeout(() => {
      this.retryTimer = undefined;
      void this.startAttempt();
    }, plan.delayMs);
    this.setStatus({
      state: 'reconnecting',
      code,
      reason,
      action: plan.action,
      retryAt,
      retryInMs: plan.delayMs,
      attempt: this.attempt,
    });
  }

  /** Offline: no timer, no attempts; the `online` event starts the next attempt at once. */
  private waitForNetwork(cause: Cause = {}): void {
    this.clearTimer('retryTimer');
    this.setStatus({
      state: 'reconnecting',
      ...carry(this.statusValue),
      ...cause,
      reason: cause.reason ? `offline (${cause.reason})` : 'offline',
      attempt: this.attempt,
    });
  }

  // ---- open ----------------------------------------------------------------------------------

  private onWelcome(frame: ServerFrameOf<'welcome'>): void {
    this.failedBeforeOpen = 0;
    this.clearTimer('healthyTimer');
    this.healthyTimer = this.settings.timers.setTimeout(() => {
      this.healthyTimer = undefined;
      this.attempt = 0;
      this.setStatus({ ...this.statusValue, attempt: 0 });
    }, this.settings.healthyAfterMs);
    this.setStatus({ state: 'open', attempt: this.attempt, node: frame.node, user: frame.user });
    this.emitter.emit('welcome', frame);
    this.refresh.schedule(frame.expiresInMs);
    this.hooks.opened();
  }

  // ---- environment -------------------------------------------------------------------------

  private attachEnvironment(): void {
    const env = this.settings.environment;
    if (!env || this.unsubscribeEnvironment) return;
    this.online = env.isOnline();
    this.unsubscribeEnvironment = env.subscribe({
      online: () => this.onOnline(),
      offline: () => this.onOffline(),
      visible: () => this.onVisible(),
    });
  }

  private detachEnvironment(): void {
    this.unsubscribeEnvironment?.();
    this.unsubscribeEnvironment = undefined;
  }

  private onOnline(): void {
    this.online = true;
    if (!this.wanted) return;
    if (this.statusValue.state === 'reconnecting') void this.startAttempt();
    else {
      this.setStatus({ ...this.statusValue });
      this.ping();
    }
  }

  private onOffline(): void {
    this.online = false;
    if (!this.wanted) return;
    // A waiting retry would only fail: wait for `online` instead. An open socket may survive a
    // short blip, so it is left to the watchdog.
    if (this.statusValue.state === 'reconnecting') this.waitForNetwork(pickCause(this.statusValue));
    else this.setStatus({ ...this.statusValue });
  }

  private onVisible(): void {
    if (!this.wanted) return;
    const { state, retryAt } = this.statusValue;
    if (state === 'open') {
      // Timers are throttled in hidden pages: the watchdog may be late, so check it now.
      if (this.link.overdue()) this.link.drop('heartbeat timeout');
      else this.ping();
    } else if (state === 'reconnecting' && retryAt !== undefined && retryAt <= this.settings.now()) {
      void this.startAttempt();
    }
  }

  // ---- bookkeeping -------------------------------------------------------------------------

  private setStatus(next: Omit<ConnectionStatus, 'online'>): void {
    const previous = this.statusValue.state;
    this.statusValue = { ...next, online: this.online };
    this.emitter.emit('state', { ...this.statusValue, previous });
  }

  private clearTimer(name: TimerName): void {
    const handle = this[name];
    if (handle !== undefined) this.settings.timers.clearTimeout(handle);
    this[name] = undefined;
  }
}

/** Keeps the cause of the last disconnect visible while the next attempt is in progress. */
function carry(status: ConnectionStatus): Cause {
  return status.state === 'open' || status.state === 'closed' ? {} : pickCause(status);
}

function pickCause(status: ConnectionStatus): Cause {
  const out: Cause = {};
  if (status.code !== undefined) out.code = status.code;
  if (status.reason !== undefined) out.reason = status.reason.replace(/^offline \((.*)\)$/, '$1');
  if (status.action !== undefined) out.action = status.action;
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
