import { CloseCode, decodeClientFrame, type ErrorCode } from '@chat/protocol';
import type { RawData } from 'ws';
import type { VerifyResult } from '../auth/tokens.js';
import type { Metrics } from '../metrics.js';
import type { Conn } from './connection.js';
import { closeAbusive, type FrameBudget, RATE_CLOSE_RETRY_MS } from './frame-budget.js';
import { frame } from './frames.js';
import type { Hub } from './hub.js';
import { refreshToken } from './refresh.js';
import type { ServiceStatus } from './service-status.js';
import type { SessionLog } from './session-log.js';

export interface DispatcherDeps {
  hub: Hub;
  budget: FrameBudget;
  sessions: SessionLog;
  status: ServiceStatus;
  verifyToken: (token: string) => VerifyResult | Promise<VerifyResult>;
  metrics: Pick<Metrics, 'framesIn' | 'errors'>;
  /** Refused sends in 10 s after which the socket is closed 4429. */
  closeAfterRefusals: number;
}

/**
 * Every inbound WebSocket message of every socket, in arrival order: charged to the socket's
 * budget first (whatever it is), then decoded and validated against the protocol's frame
 * union, then rate limited per user for sends, then handed to the Hub. Bad input is answered
 * with an error frame and costs only its sender (repeated, it closes the socket).
 */
export class FrameDispatcher {
  constructor(private readonly deps: DispatcherDeps) {}

  dispatch(conn: Conn, data: RawData, isBinary: boolean): void {
    const { hub, budget, metrics, sessions, status } = this.deps;
    const now = Date.now();
    conn.seen(now);
    if (conn.closing) return;
    // Every frame costs budget, whatever it is (see frame-budget.ts).
    const socketWait = budget.charge(conn, now);
    if (conn.closing) return;
    if (isBinary) {
      this.invalid(
        conn,
        now,
        socketWait,
        'binary_unsupported',
        'binary frames are not supported; send JSON text',
      );
      return;
    }
    const decoded = decodeClientFrame(toText(data));
    if (!decoded.ok) {
      this.invalid(conn, now, socketWait, decoded.code, decoded.message);
      return;
    }
    const f = decoded.frame;
    metrics.framesIn.inc({ type: f.type });
    if (f.type === 'pong') return;
    let wait = socketWait;
    if (wait === 0 && f.type === 'send') {
      wait = hub.userBucket(conn).take(now);
      if (wait > 0 && conn.countViolation(now) > this.deps.closeAfterRefusals) {
        closeAbusive(conn, CloseCode.RateLimited, 'rate limit exceeded', RATE_CLOSE_RETRY_MS);
        return;
      }
    }
    if (wait > 0) {
      const ref = f.type === 'send' ? f.clientMsgId : f.type === 'join' ? f.room : undefined;
      this.reply(conn, 'rate_limited', 'too many frames; slow down', ref, wait);
      return;
    }
    switch (f.type) {
      case 'join':
        void hub.join(conn, f).then(() => sessions.joined(conn, f.room) || status.joinFailed(conn));
        return;
      case 'leave':
        hub.leave(conn, f);
        sessions.left(conn, f.room);
        return;
      case 'send':
        // A draining socket is about to close; the client resends after reconnecting.
        if (!conn.draining) void hub.send(conn, f);
        return;
      case 'ping':
        conn.send(frame({ type: 'pong', ...(f.t === undefined ? {} : { t: f.t }) }));
        return;
      case 'refresh':
        void refreshToken(conn, f.token, this.deps.verifyToken);
        return;
    }
  }

  /** A frame the protocol refuses: answered while the socket has budget, closed 1008 if repeated. */
  private invalid(conn: Conn, now: number, wait: number, code: ErrorCode, message: string): void {
    this.deps.metrics.framesIn.inc({ type: 'invalid' });
    if (this.deps.budget.protocolError(conn, now)) return;
    if (wait === 0) this.reply(conn, code, message);
  }

  private reply(conn: Conn, ...args: Parameters<Conn['error']>): void {
    this.deps.metrics.errors.inc({ code: args[0] });
    conn.error(...args);
  }
}

function toText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
