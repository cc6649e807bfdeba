/**
 * How a pod that is told to stop closes its sockets (1012, "service restart"): spread over a
 * window so the fleet is not hit by every reconnect at once, but never slower than needed, so
 * a few sockets drain fast. Clients, the server and the bench all reason with this formula.
 */
export const DRAIN_DEFAULTS = {
  /** The longest a drain spreads its closes over (DRAIN_WINDOW_MS). */
  windowMs: 10_000,
  /** Sockets closed per second at most (DRAIN_MAX_CLOSE_RATE). */
  maxCloseRate: 500,
} as const;

/** The window over which `sockets` open sockets are closed: min(window, sockets / rate). */
export function drainWindowMs(
  sockets: number,
  windowMs: number = DRAIN_DEFAULTS.windowMs,
  maxCloseRate: number = DRAIN_DEFAULTS.maxCloseRate,
): number {
  return Math.min(windowMs, (sockets * 1000) / maxCloseRate);
}
