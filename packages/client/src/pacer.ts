import type { ServerFrameOf } from '@chat/protocol';

/** Share of the server's sustained rate the outbox uses: joins and pings need the rest. */
const RATE_SHARE = 0.8;

/**
 * Paces sends below the limits the server announced in `welcome`: a token bucket at a share of
 * the lower of the per-socket frame rate and the per-user message rate, with half the burst. A
 * `rate_limited` answer pauses it for the server's `retryAfterMs`. Without announced limits
 * (an older server) it never holds anything back.
 */
export class Pacer {
  private rate = Number.POSITIVE_INFINITY;
  private burst = Number.POSITIVE_INFINITY;
  private tokens = Number.POSITIVE_INFINITY;
  private at = 0;
  private pausedUntil = 0;

  /** A new connection: its limits, and a full (halved) burst. */
  reset(limits: ServerFrameOf<'welcome'>['limits'], now: number): void {
    this.pausedUntil = 0;
    this.at = now;
    if (!limits) {
      this.rate = this.burst = this.tokens = Number.POSITIVE_INFINITY;
      return;
    }
    this.rate = Math.max(0.1, Math.min(limits.framesPerS, limits.messagesPerS) * RATE_SHARE);
    this.burst = Math.max(1, Math.floor(Math.min(limits.framesBurst, limits.messagesBurst) / 2));
    this.tokens = this.burst;
  }

  /** 0 when one send may go now (and takes its token), else the milliseconds to wait. */
  take(now: number): number {
    if (now < this.pausedUntil) return this.pausedUntil - now;
    if (this.rate !== Number.POSITIVE_INFINITY) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    }
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.rate);
  }

  /** The server refused a send as too fast: nothing goes out before `retryAfterMs`. */
  pause(now: number, retryAfterMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, now + retryAfterMs);
    this.tokens = Math.min(this.tokens, 0);
  }
}
