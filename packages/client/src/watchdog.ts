import type { Timers } from './types.js';

/**
 * Detects a dead socket from the application side: browsers cannot see WebSocket ping frames, so
 * any frame from the server (its heartbeat pings included) counts as a sign of life.
 */
export class Watchdog {
  private lastFrameAt = 0;
  private timeoutMs = 0;
  private timer: unknown;

  constructor(
    private readonly timers: Timers,
    private readonly now: () => number,
    private readonly expired: () => void,
  ) {}

  /** A frame arrived. Cheap on purpose: it runs for every frame and does not touch the timer. */
  feed(): void {
    this.lastFrameAt = this.now();
  }

  start(timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
    this.arm();
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Also asked directly when timers may have been throttled (a page that was hidden). */
  overdue(): boolean {
    return this.now() - this.lastFrameAt >= this.timeoutMs;
  }

  /** One timer per socket, re-armed for the remaining time rather than reset on every frame. */
  private arm(): void {
    this.stop();
    const due = Math.max(0, this.lastFrameAt + this.timeoutMs - this.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.overdue()) this.expired();
      else this.arm();
    }, due);
  }
}
