import type { ServerFrameOf } from '@chat/protocol';
import type { BrokerHealth, HealthState } from '../health.js';
import type { Conn } from './connection.js';
import { frame } from './frames.js';

/**
 * Tells clients whether this pod can serve chat (the `status` frame): after `welcome` when it
 * cannot, to every socket when that changes, and to a socket whose join just failed, so a UI
 * can say "connected, chat service degraded" instead of a green light over a stuck room.
 */
export class ServiceStatus {
  private readonly unsubscribe: () => void;

  constructor(
    private readonly health: BrokerHealth,
    private readonly conns: ReadonlySet<Conn>,
  ) {
    this.unsubscribe = health.onChange((state) => {
      const data = frame(statusFrame(state));
      for (const conn of this.conns) conn.send(data);
    });
  }

  /** A new socket hears about an outage at once; a healthy service needs no frame. */
  greet(conn: Conn): void {
    const state = this.health.state;
    if (!state.ok) conn.send(frame(statusFrame(state)));
  }

  /** After a join that did not go live: the service state now (re-checked), so the UI can say why. */
  joinFailed(conn: Conn): void {
    conn.send(frame(statusFrame(this.health.poke())));
  }

  close(): void {
    this.unsubscribe();
  }
}

export function statusFrame(state: HealthState): ServerFrameOf<'status'> {
  return state.ok
    ? { type: 'status', service: 'ok' }
    : { type: 'status', service: 'degraded', ...(state.reason ? { reason: state.reason } : {}) };
}
