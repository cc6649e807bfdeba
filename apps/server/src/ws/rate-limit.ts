/**
 * Token bucket: `burst` frames at once, refilled at `perSecond`. Time is passed in so the
 * caller reads the clock once per frame and tests need no fake timers.
 */
export class TokenBucket {
  private tokens: number;
  private updated: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updated = now;
  }

  /** Takes one token; returns 0 when allowed, else the ms until one is available. */
  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updated) * this.perSecond) / 1000);
    this.updated = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.perSecond);
  }
}

/** Counts events in a sliding window of fixed buckets (cheap: no per-event allocation). */
export class WindowCounter {
  private readonly buckets: number[];
  private readonly bucketMs: number;
  private head = 0;
  private headStart = 0;

  constructor(windowMs: number, buckets = 10) {
    this.buckets = new Array<number>(buckets).fill(0);
    this.bucketMs = windowMs / buckets;
  }

  add(now: number): number {
    this.advance(now);
    this.buckets[this.head] = (this.buckets[this.head] ?? 0) + 1;
    return this.buckets.reduce((a, b) => a + b, 0);
  }

  private advance(now: number): void {
    const steps = Math.floor((now - this.headStart) / this.bucketMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, this.buckets.length); i++) {
      this.head = (this.head + 1) % this.buckets.length;
      this.buckets[this.head] = 0;
    }
    this.headStart += steps * this.bucketMs;
  }
}
