import { compareIds } from '@chat/protocol';

/** An idle room is read at most every 2^MAX_BACKOFF_SHIFT check periods (16: 32 s by default). */
export const MAX_BACKOFF_SHIFT = 4;

/**
 * One room's part of the periodic tail check: when to read the stream's tail, and what a
 * reading means. A room with traffic is read at every period; each reading that finds nothing
 * new doubles the wait, so a pod with thousands of idle rooms costs Redis a few reads a second
 * instead of one per room per period. Any live message resets it.
 */
export class TailWatch {
  /** The tail at the previous reading, to tell a lost message from one still in flight. */
  private seen: string | undefined;
  private quietReadings = 0;
  private lastTick = Number.NEGATIVE_INFINITY;

  /** Traffic (a live message, a heal): read at every period again. */
  active(): void {
    this.quietReadings = 0;
  }

  due(tick: number): boolean {
    return tick - this.lastTick >= 2 ** Math.min(this.quietReadings, MAX_BACKOFF_SHIFT);
  }

  /**
   * A reading at period `tick`. True when the publish of the tail seen at the previous reading
   * was lost: it is still ahead of `head`, and nothing newer came to reveal the gap.
   */
  read(tail: string, head: string | undefined, tick: number): boolean {
    const seen = this.seen;
    this.seen = tail;
    this.lastTick = tick;
    if (tail === head) this.quietReadings++;
    else this.quietReadings = 0;
    return seen !== undefined && head !== undefined && compareIds(seen, head) > 0;
  }
}
