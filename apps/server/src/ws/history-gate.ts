import type { RangeResult, StoredMessage } from '../broker/types.js';

/** Every replay slot is taken and the queue for one is full: the join is answered `busy`. */
export class HistoryBusyError extends Error {
  override name = 'HistoryBusyError';
}

export interface HistoryGateOptions {
  /** Joins reading history at once (each one page at a time), and heals reading at once. */
  concurrency: number;
  /** Joins waiting for a slot before new ones are refused. */
  maxQueued: number;
  /** Bytes of history read per second, over every read (0 = no limit); bursts of a tenth of it. */
  bytesPerS: number;
}

type HistoryRead = RangeResult | StoredMessage[];

/** The byte budget holds a tenth of a second: reads are spread evenly, not bunched. */
const BURST_PARTS = 10;
/** What a history entry is taken to cost before any was read. */
const INITIAL_BYTES_PER_ENTRY = 1024;

/**
 * A join's right to read history: `read` one page of up to `count` entries at a time, `release`
 * when done. While its socket drains it `pause`s (the slot serves another join meanwhile) and
 * `resume`s ahead of new joins, so a socket that does not read holds no slot.
 */
export interface ReplaySlot {
  read<T extends HistoryRead>(count: number, read: () => Promise<T>): Promise<T>;
  pause(): void;
  resume(): Promise<void>;
  release(): void;
}

interface BudgetWaiter {
  estimate: number;
  go: () => void;
}

/**
 * The pod's bound on history reads. At most `concurrency` joins read history at once, each one
 * page (an XRANGE) at a time, and all of them together at most `bytesPerS`: however many sockets
 * ask for history at once, Redis holds a few pages in its output buffers and this process
 * spends a bounded share of its time on replays. A read reserves what it is expected to cost
 * before it starts (so reads that start together cannot overrun the budget) and settles the
 * difference when it returns. Joins wait for a slot in arrival order; past `maxQueued` waiting
 * they are refused at once (HistoryBusyError). Heals (live delivery of a whole room waits on
 * them) have their own `concurrency` reads and spend the byte budget without waiting for it.
 */
export class HistoryGate {
  private replaying = 0;
  private readonly waitingJoins: (() => void)[] = [];
  /** Paused replays whose socket drained, waiting for a slot again (ahead of new joins). */
  private readonly resuming: (() => void)[] = [];
  private healing = 0;
  private readonly waitingHeals: (() => void)[] = [];
  /** Replay reads waiting for the byte budget, in order. */
  private readonly waitingBudget: BudgetWaiter[] = [];
  /** The byte budget (a token bucket); negative while reads in flight reserved more than it held. */
  private tokens = 0;
  private refilledAt = Date.now();
  private wake: NodeJS.Timeout | undefined;
  /** Recent bytes per history entry, to estimate what a read will cost. */
  private bytesPerEntry = INITIAL_BYTES_PER_ENTRY;

  constructor(private readonly opts: HistoryGateOptions) {}

  /** Joins reading history now, and waiting for a slot. */
  get load(): { replaying: number; waiting: number } {
    return { replaying: this.replaying, waiting: this.waitingJoins.length };
  }

  /** A slot for one join's reads; rejects with HistoryBusyError when too many already wait. */
  async admit(): Promise<ReplaySlot> {
    if (this.replaying >= this.opts.concurrency) {
      if (this.waitingJoins.length >= this.opts.maxQueued)
        throw new HistoryBusyError('too many joins waiting to read history on this pod');
      await new Promise<void>((resolve) => this.waitingJoins.push(resolve));
    } else {
      this.replaying++;
    }
    let holding = true;
    let released = false;
    return {
      read: async (count, read) => {
        const estimate = await this.reserve(count);
        let spent = 0;
        try {
          const result = await read();
          spent = this.measure(result);
          return result;
        } finally {
          this.settle(spent - estimate);
        }
      },
      pause: () => {
        if (!holding) return;
        holding = false;
        this.handOver();
      },
      resume: async () => {
        if (holding || released) return;
        holding = true;
        if (this.replaying < this.opts.concurrency) this.replaying++;
        else await new Promise<void>((resolve) => this.resuming.push(resolve));
      },
      release: () => {
        if (released) return;
        released = true;
        if (!holding) return;
        holding = false;
        this.handOver();
      },
    };
  }

  /** A slot was given up: to a paused replay that wants it back, else a waiting join, else free. */
  private handOver(): void {
    const next = this.resuming.shift() ?? this.waitingJoins.shift();
    if (next) next();
    else this.replaying--;
  }

  /** One read of a heal. */
  async heal<T extends HistoryRead>(read: () => Promise<T>): Promise<T> {
    if (this.healing >= this.opts.concurrency) await new Promise<void>((r) => this.waitingHeals.push(r));
    else this.healing++;
    try {
      const result = await read();
      this.settle(this.measure(result));
      return result;
    } finally {
      const next = this.waitingHeals.shift();
      if (next) next();
      else this.healing--;
    }
  }

  /** Waits (in order) until the budget is not overdrawn, then reserves the read's expected cost. */
  private reserve(count: number): Promise<number> {
    if (this.opts.bytesPerS === 0) return Promise.resolve(0);
    const estimate = count * this.bytesPerEntry;
    return new Promise((resolve) => {
      this.waitingBudget.push({ estimate, go: () => resolve(estimate) });
      this.admitReads();
    });
  }

  /** Adds what a read cost beyond its reservation (negative: gives back what it did not use). */
  private settle(bytes: number): void {
    if (this.opts.bytesPerS === 0) return;
    this.refill();
    this.tokens -= bytes;
    this.admitReads();
  }

  private measure(result: HistoryRead): number {
    const entries = Array.isArray(result) ? result : result.complete ? result.entries : [];
    let bytes = 0;
    for (const e of entries) bytes += Buffer.byteLength(e.body);
    if (entries.length > 0) this.bytesPerEntry = (this.bytesPerEntry + bytes / entries.length) / 2;
    return bytes;
  }

  /** Lets waiting reads go while the budget is not overdrawn; wakes itself when it refills. */
  private admitReads(): void {
    while (this.waitingBudget.length > 0 && this.refill() >= 0) {
      const next = this.waitingBudget.shift() as BudgetWaiter;
      this.tokens -= next.estimate;
      next.go();
    }
    if (this.waitingBudget.length === 0 || this.wake) return;
    const ms = Math.max(1, Math.ceil((-this.tokens / this.opts.bytesPerS) * 1000));
    this.wake = setTimeout(() => {
      this.wake = undefined;
      this.admitReads();
    }, ms);
    this.wake.unref();
  }

  private refill(): number {
    const now = Date.now();
    const { bytesPerS } = this.opts;
    this.tokens = Math.min(
      bytesPerS / BURST_PARTS,
      this.tokens + ((now - this.refilledAt) / 1000) * bytesPerS,
    );
    this.refilledAt = now;
    return this.tokens;
  }
}
