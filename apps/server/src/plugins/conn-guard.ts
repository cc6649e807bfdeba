import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /** TCP connections that have not sent a complete request or upgrade yet. */
    pendingConnections: () => number;
  }
}

const kTimer = Symbol('chat.handshakeTimer');
type PendingSocket = Socket & { [kTimer]?: NodeJS.Timeout };

/**
 * Bounds what a connection costs before it has said anything: at most MAX_PENDING_CONNECTIONS
 * TCP connections may be waiting for their first request headers (or upgrade), each for at most
 * HANDSHAKE_TIMEOUT_MS. Past the cap the oldest waiting connection is dropped, not the new one,
 * so a flood of half-open connections cannot lock out a probe or an honest client: a real
 * handshake completes in milliseconds, long before it becomes the oldest.
 *
 * Node's own headersTimeout and requestTimeout are also lowered to the handshake timeout for
 * the requests that follow on a keep-alive connection.
 */
export default fp(
  async (app) => {
    const { config, metrics } = app;
    const server = app.server;
    const max = config.MAX_PENDING_CONNECTIONS;
    const timeoutMs = config.HANDSHAKE_TIMEOUT_MS;
    // Insertion-ordered: the first entry is the oldest waiting connection.
    const pending = new Set<PendingSocket>();

    const settle = (socket: PendingSocket) => {
      if (!pending.delete(socket)) return;
      clearTimeout(socket[kTimer]);
      socket[kTimer] = undefined;
    };
    const drop = (socket: PendingSocket, reason: string) => {
      settle(socket);
      metrics.refused.inc({ reason });
      socket.destroy();
    };

    const onConnection = (socket: PendingSocket) => {
      if (pending.size >= max) {
        const oldest = pending.values().next().value;
        if (oldest) drop(oldest, 'pending_cap');
      }
      pending.add(socket);
      const timer = setTimeout(() => drop(socket, 'handshake_timeout'), timeoutMs);
      timer.unref();
      socket[kTimer] = timer;
      socket.once('close', () => settle(socket));
    };
    const onRequest = (req: IncomingMessage) => settle(req.socket as PendingSocket);

    server.headersTimeout = Math.min(server.headersTimeout || timeoutMs, timeoutMs);
    server.requestTimeout = Math.max(timeoutMs, Math.min(server.requestTimeout || 30_000, 30_000));
    server.on('connection', onConnection);
    server.on('request', onRequest);
    server.prependListener('upgrade', onRequest);
    app.decorate('pendingConnections', () => pending.size);

    app.addHook('onClose', async () => {
      server.off('connection', onConnection);
      server.off('request', onRequest);
      server.off('upgrade', onRequest);
      for (const socket of pending) settle(socket);
    });
  },
  { name: 'connection-guard', dependencies: ['config', 'metrics'] },
);
