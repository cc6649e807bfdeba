import type { WebSocketLike } from './types.js';

/**
 * Detaches our handlers first: the close event of a socket we gave up on must not be taken for
 * the close of the current one.
 */
function detach(socket: WebSocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  // An abandoned socket may still error; a handler keeps `ws` from throwing it as unhandled.
  socket.onerror = () => {};
}

export function closeQuietly(socket: WebSocketLike, code: number, reason: string): void {
  detach(socket);
  try {
    socket.close(code, reason);
  } catch {
    // Already closing, or still connecting in an implementation that refuses close() then.
  }
}

/** Drops a socket at once: `ws` has terminate(); a browser socket only has close(). */
export function terminate(socket: WebSocketLike): void {
  const withTerminate = socket as WebSocketLike & { terminate?: () => void };
  detach(socket);
  try {
    if (typeof withTerminate.terminate === 'function') withTerminate.terminate();
    else socket.close();
  } catch {
    // Nothing more to do: the socket is abandoned either way.
  }
}
