import { type CloseAction, closeAction, parseCloseReason } from '@chat/protocol';

export interface BackoffOptions {
  /** First ceiling of the normal backoff (1006, 1011, 1009, unknown codes, failed attempts). */
  baseMs: number;
  /** The ceiling never grows past this; the jitter applies after the cap. */
  capMs: number;
  /** Longer backoff for 1013 (at capacity) and for 4429 without a hint. */
  slowBaseMs: number;
  slowCapMs: number;
  /** 1001/1012 (drain) without a hint: reconnect after a random delay in [0, soonMaxMs]. */
  soonMaxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = {
  baseMs: 500,
  capMs: 30_000,
  slowBaseMs: 5_000,
  slowCapMs: 120_000,
  soonMaxMs: 2_000,
};

/**
 * Full-jitter exponential backoff: `random() * min(cap, base * 2^attempt)`. The jitter is applied
 * after the cap, so clients that all reached the cap stay spread over [0, cap] instead of
 * reconnecting in lock-step.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(clamp01(random()) * ceiling);
}

/**
 * A server's "try again after" hint, capped, plus up to `baseMs` of jitter: clients told the same
 * thing at the same moment (an outage, a limit) should not all come back in the same instant.
 */
export function hintedDelay(hintMs: number, options: BackoffOptions, random: () => number): number {
  return (
    Math.min(hintMs, options.slowCapMs) + Math.floor(clamp01(random()) * Math.min(options.baseMs, hintMs))
  );
}

export type ReconnectPlan =
  | { action: 'stay-closed'; message: string }
  | {
      action: Exclude<CloseAction, 'stay-closed'>;
      message: string;
      /** How long to wait before the next attempt. */
      delayMs: number;
      /** The attempt counter to use from now on. */
      nextAttempt: number;
      /** Ask getToken for a fresh token before the next attempt. */
      refreshToken: boolean;
    };

/** What to do after a close with `code` and `reason`, given `attempt` consecutive failures so far. */
export function planReconnect(
  code: number,
  reason: string,
  attempt: number,
  options: BackoffOptions,
  random: () => number,
): ReconnectPlan {
  const action = closeAction(code);
  const { message, retryAfterMs: hint } = parseCloseReason(reason);
  const slow = () => backoffDelay(attempt, options.slowBaseMs, options.slowCapMs, random);
  const normal = () => backoffDelay(attempt, options.baseMs, options.capMs, random);
  switch (action) {
    case 'stay-closed':
      return { action, message };
    case 'reconnect-soon': {
      // The server is draining: it was a healthy connection, so the attempt counter is not raised.
      const window = Math.min(hint ?? options.soonMaxMs, options.slowCapMs);
      return {
        action,
        message,
        delayMs: Math.floor(clamp01(random()) * window),
        nextAttempt: attempt,
        refreshToken: false,
      };
    }
    case 'reconnect-after-hint': {
      const delayMs = hint === undefined ? slow() : hintedDelay(hint, options, random);
      return { action, message, delayMs, nextAttempt: attempt + 1, refreshToken: false };
    }
    case 'reconnect-slow':
      return { action, message, delayMs: slow(), nextAttempt: attempt + 1, refreshToken: false };
    case 'refresh-token':
      return { action, message, delayMs: normal(), nextAttempt: attempt + 1, refreshToken: true };
    case 'reconnect-backoff':
      return { action, message, delayMs: normal(), nextAttempt: attempt + 1, refreshToken: false };
  }
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
