/**
 * A token bucket per key (client IP), for cheap endpoints an anonymous client can call, such
 * as POST /api/token. Entries of keys that have refilled are dropped on a sweep, so the map is
 * bounded by the keys active within one refill period.
 */
export class KeyedRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = 0;

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
  ) {}

  /** 0 when allowed, else the ms until the key has a token again. */
  take(key: string, now: number): number {
    this.sweep(now);
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.perMinute) / 60_000);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 60_000) / this.perMinute);
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    const refillMs = (this.burst * 60_000) / this.perMinute;
    if (now - this.lastSweep < Math.min(refillMs, 60_000)) return;
    this.lastSweep = now;
    for (const [key, b] of this.buckets) if (now - b.at >= refillMs) this.buckets.delete(key);
  }
}
