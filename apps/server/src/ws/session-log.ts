import type { FastifyBaseLogger } from 'fastify';
import type { Conn } from './connection.js';

/**
 * One info line per socket event a person follows in development: opened, closed (with its
 * close code), join, leave. Drain steps are logged by the realtime plugin and server.ts.
 */
export class SessionLog {
  constructor(private readonly log: FastifyBaseLogger) {}

  opened(conn: Conn): void {
    this.log.info({ conn: conn.id, user: conn.user.name }, 'connection opened');
  }

  closed(conn: Conn, code: number, reason: string): void {
    const fields = { conn: conn.id, user: conn.user.name, code, ...(reason ? { reason } : {}) };
    this.log.info(fields, `connection closed ${code}`);
  }

  /** After a join was handled: live in the room, or not (refused, failed or left meanwhile). */
  joined(conn: Conn, room: string): boolean {
    const ok = conn.inRoom(room);
    if (ok) this.log.info({ conn: conn.id, user: conn.user.name, room }, `joined #${room}`);
    else this.log.info({ conn: conn.id, room }, `join #${room} not served`);
    return ok;
  }

  left(conn: Conn, room: string): void {
    this.log.info({ conn: conn.id, user: conn.user.name, room }, `left #${room}`);
  }
}
