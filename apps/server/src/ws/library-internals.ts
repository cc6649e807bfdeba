import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * Everything this server takes from `ws` and @fastify/websocket beyond their documented API,
 * in one place. test/library-internals.test.ts pins each assumption to the installed versions
 * (VERIFIED_WITH) and checks it against a real upgrade, so an upgrade that changes them fails
 * loudly there instead of silently costing memory or correctness.
 */

/** The versions whose internals were read; the test fails when the installed ones differ. */
export const VERIFIED_WITH = { ws: '8.23.0', '@fastify/websocket': '11.3.6' } as const;

/**
 * The TCP socket under a `ws` WebSocket (`_socket`), for writing pre-built frames to many
 * sockets without ws framing each copy. Undefined when it is not a writable net.Socket.
 */
export function rawSocket(ws: WebSocket): Socket | undefined {
  const socket = (ws as unknown as { _socket?: unknown })._socket;
  return typeof (socket as Socket | undefined)?.write === 'function' ? (socket as Socket) : undefined;
}

/**
 * @fastify/websocket routes the upgrade through a ServerResponse it attaches to the socket
 * (`_httpMessage`) and never detaches; together with its error listener that kept every
 * socket's upgrade request, reply, headers and child logger alive for the life of the
 * connection. Detaching it frees them.
 */
export function releaseUpgradeResponse(socket: Socket): void {
  const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (res && typeof res.detachSocket === 'function') res.detachSocket(socket);
}

/**
 * @fastify/websocket adds an 'error' listener per socket that closes over the request and
 * reply; ours (one function shared by every socket) replaces it.
 */
export function replaceErrorListener(ws: WebSocket, listener: (this: WebSocket, err: Error) => void): void {
  ws.removeAllListeners('error');
  ws.on('error', listener);
}
