/** The broker's health as one changing fact: whether it can serve, and if not, why. */
export interface HealthState {
  ok: boolean;
  /** For people, when not ok: "Redis at 127.0.0.1:6390 is unreachable (connect ECONNREFUSED ...)". */
  reason?: string;
}

export type HealthListener = (state: HealthState) => void;

/** How often the check is re-run between pokes (a frozen Redis only shows up in its pings). */
const POLL_MS = 250;

/**
 * Turns a polled health check (`broker.healthy()`) into change events. Connection events of the
 * broker's clients call `poke()` so an outage is seen at once; the poll catches what has no
 * event (pings that stopped being answered).
 */
export class BrokerHealth {
  private current: HealthState;
  private readonly listeners = new Set<HealthListener>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly check: () => boolean,
    private readonly why: () => string,
    pollMs = POLL_MS,
  ) {
    this.current = this.read();
    this.timer = setInterval(() => this.poke(), pollMs);
    this.timer.unref();
  }

  get state(): HealthState {
    return this.current;
  }

  /** Re-checks now; listeners hear about a change (and only about a change). */
  poke(): HealthState {
    const next = this.read();
    if (next.ok !== this.current.ok || next.reason !== this.current.reason) {
      this.current = next;
      for (const listener of this.listeners) listener(next);
    }
    return this.current;
  }

  onChange(listener: HealthListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    clearInterval(this.timer);
    this.listeners.clear();
  }

  private read(): HealthState {
    return this.check() ? { ok: true } : { ok: false, reason: this.why() };
  }
}
