import { CloseCode } from '@chat/protocol';
import type { Conn } from './connection.js';
import { frame } from './frames.js';

/** Pings every socket; one that stayed silent for two intervals is dead and is dropped. */
export function heartbeat(conns: Iterable<Conn>, now: number, intervalMs: number): void {
  const data = Buffer.from(frame({ type: 'ping', t: now }));
  const deadline = now - 2 * intervalMs - 1000;
  for (const conn of conns) {
    if (conn.lastSeen < deadline) conn.terminate();
    else if (conn.expiresAt <= now) void conn.close(CloseCode.Unauthorized, 'token expired');
    else conn.send(data);
  }
}

/**
 * Closes every socket with 1012, spread over the window in small batches so the pods that
 * remain are not hit by every client at once. A socket with a send in flight is closed right
 * after its ack. Resolves when every socket is closed, with how many there were.
 */
export async function drainSockets(
  conns: readonly Conn[],
  windowMs: number,
  retryHintMs: number,
  onClosing: () => void,
): Promise<number> {
  const tickMs = 50;
  const ticks = Math.max(1, Math.ceil(windowMs / tickMs));
  const perTick = Math.ceil(conns.length / ticks);
  const closing: Promise<void>[] = [];
  // Each batch is due at a fixed offset from the start, so late timers (the event loop is
  // busy while the other pods' clients reconnect) do not stretch the window.
  const started = performance.now();
  for (let i = 0, batch = 0; i < conns.length; i += perTick, batch++) {
    const wait = started + batch * tickMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (const conn of conns.slice(i, i + perTick)) {
      conn.startDrain(); // accept no new sends while waiting for in-flight acks
      closing.push(
        conn.whenIdle().then(() => {
          onClosing();
          return conn.close(CloseCode.ServiceRestart, 'server restarting', retryHintMs);
        }),
      );
    }
  }
  await Promise.all(closing);
  return conns.length;
}
