import type { Socket } from 'node:net';
import { CloseCode } from '@chat/protocol';
import type { Conn } from './connection.js';
import { WindowCounter } from './rate-limit.js';

export interface FrameBudgetLimits {
  /** Frames refused for rate within 10 s before the socket is closed 4429. */
  closeAfterRefusals: number;
  /** Invalid frames within 10 s before the socket is closed 1008. */
  closeAfterErrors: number;
}

/** Delay hinted to a socket closed 4429 before it reconnects. */
export const RATE_CLOSE_RETRY_MS = 5000;
const WINDOW_MS = 10_000;

/**
 * What every inbound frame costs, whatever it is: valid or not, text or binary, a chat message
 * or an app-level pong. One token of the socket's bucket per frame; a socket that keeps sending
 * after being refused, or that keeps sending frames the protocol does not allow, is closed and
 * stops being read (so a flood already in flight costs no more parsing).
 *
 * Protocol errors are counted per socket in a map that only misbehaving sockets enter: honest
 * sockets carry nothing for this.
 */
export class FrameBudget {
  private readonly errors = new WeakMap<Conn, WindowCounter>();

  constructor(private readonly limits: FrameBudgetLimits) {}

  /**
   * Charges one frame. Returns 0 when the frame may be served, else the ms until the socket has
   * budget again; past the refusal bound the socket is closed 4429 (then the caller does nothing).
   */
  charge(conn: Conn, now: number): number {
    if (conn.expiresAt <= now) {
      void conn.close(CloseCode.Unauthorized, 'token expired');
      return Number.POSITIVE_INFINITY;
    }
    const wait = conn.bucket.take(now);
    if (wait > 0 && conn.countViolation(now) > this.limits.closeAfterRefusals) {
      closeAbusive(conn, CloseCode.RateLimited, 'rate limit exceeded', RATE_CLOSE_RETRY_MS);
    }
    return wait;
  }

  /** Counts a frame the protocol refuses; true when that closed the socket (1008). */
  protocolError(conn: Conn, now: number): boolean {
    let counter = this.errors.get(conn);
    if (!counter) {
      counter = new WindowCounter(WINDOW_MS);
      this.errors.set(conn, counter);
    }
    if (counter.add(now) <= this.limits.closeAfterErrors) return false;
    closeAbusive(conn, CloseCode.PolicyViolation, 'too many invalid frames');
    return true;
  }
}

/**
 * Closes with `code` and stops reading: the close frame and a FIN go out at once, and frames
 * the client already sent are never parsed (the socket is destroyed by Conn's close grace).
 */
export function closeAbusive(conn: Conn, code: number, reason: string, retryAfterMs?: number): void {
  if (conn.closing) return;
  void conn.close(code, reason, retryAfterMs);
  const socket = (conn.ws as unknown as { _socket?: Socket })._socket;
  if (socket && !socket.destroyed) {
    socket.pause();
    socket.end();
  }
}
