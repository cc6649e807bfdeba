/**
 * A log-linear latency histogram in microseconds (HdrHistogram-style): exact below 128 µs,
 * then 64 sub-buckets per power of two, so every recorded value is within 1.6 % of its
 * bucket. Workers record into their own histograms and send the sparse counts over IPC; the
 * orchestrator merges them. Percentiles report the bucket's highest value (never optimistic).
 */
const LINEAR = 128;
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;

export type SparseCounts = [index: number, count: number][];

export interface Summary {
  count: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export function bucketOf(us: number): number {
  const v = us <= 0 ? 0 : Math.floor(us);
  if (v < LINEAR) return v;
  const e = v < 2 ** 31 ? 31 - Math.clz32(v) : Math.floor(Math.log2(v));
  const sub = Math.floor(v / 2 ** (e - SUB_BITS)) - SUB;
  return LINEAR + (e - 7) * SUB + sub;
}

/** Highest value (µs) that falls into bucket `i`. */
export function bucketHigh(i: number): number {
  if (i < LINEAR) return i;
  const e = Math.floor((i - LINEAR) / SUB) + 7;
  const sub = (i - LINEAR) % SUB;
  const width = 2 ** (e - SUB_BITS);
  return (SUB + sub) * width + width - 1;
}

export class Histogram {
  private readonly counts = new Map<number, number>();
  count = 0;
  maxUs = 0;
  sumUs = 0;

  record(us: number): void {
    const i = bucketOf(us);
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  toJSON(): { counts: SparseCounts; count: number; maxUs: number; sumUs: number } {
    return { counts: [...this.counts], count: this.count, maxUs: this.maxUs, sumUs: this.sumUs };
  }

  merge(other: { counts: SparseCounts; count: number; maxUs: number; sumUs: number }): this {
    for (const [i, c] of other.counts) this.counts.set(i, (this.counts.get(i) ?? 0) + c);
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
    return this;
  }

  /** The value (µs) at or below which `q` (0..1) of the recordings fall. */
  quantileUs(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i) ?? 0;
      if (seen >= rank) return Math.min(bucketHigh(i), this.maxUs);
    }
    return this.maxUs;
  }

  summary(): Summary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      count: this.count,
      p50: ms(this.quantileUs(0.5)),
      p90: ms(this.quantileUs(0.9)),
      p99: ms(this.quantileUs(0.99)),
      p999: ms(this.quantileUs(0.999)),
      max: ms(this.maxUs),
      mean: this.count === 0 ? 0 : ms(this.sumUs / this.count),
    };
  }
}
