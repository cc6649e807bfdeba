import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode } from '@chat/protocol';
import type { WebSocketServer } from 'ws';
import type { Conn } from './connection.js';

/** How long a stopping server lets upgrade requests in flight finish before dropping them. */
const UPGRADE_GRACE_MS = 2000;

/**
 * A forced stop of the WebSocket endpoint (the process is closing without a drain, or after
 * one): every socket is told 1001 and why, so clients resume at once, and nothing left over
 * (an upgrade still being answered, a close handshake nobody answers) can keep the HTTP
 * server's close waiting. Owns the "stopping" flag and the set of upgrade sockets.
 */
export class SocketShutdown {
  private isStopping = false;
  /** Every socket that asked for an upgrade and is still open. */
  private readonly upgrades = new Set<Duplex>();

  constructor(private readonly server: Server) {
    server.on('upgrade', (_req: unknown, socket: Duplex) => {
      this.upgrades.add(socket);
      socket.once('close', () => this.upgrades.delete(socket));
    });
  }

  /** After stop(): upgrades still arriving are closed 1001 as they complete. */
  get stopping(): boolean {
    return this.isStopping;
  }

  stop(conns: Iterable<Conn>, wss: WebSocketServer): void {
    this.isStopping = true;
    for (const conn of conns) void conn.close(CloseCode.GoingAway, 'server stopping');
    // Sockets between the upgrade and the hub (none normally) are closed the same way.
    for (const ws of wss.clients)
      if (ws.readyState === ws.OPEN) ws.close(CloseCode.GoingAway, 'server stopping');
    wss.close();
    // An upgrade request still being answered holds an HTTP connection the server's close
    // waits for (seen under load: the close never finished); past a grace, drop them all.
    // Sockets that did not finish their close handshake by then (ws waits 30 s) go too.
    setTimeout(() => {
      for (const ws of wss.clients) ws.terminate();
      // Upgraded sockets leave the HTTP server's bookkeeping: a refused or half-done upgrade
      // is destroyed here, or the server's close would wait for it.
      for (const socket of this.upgrades) socket.destroy();
      this.server.closeAllConnections();
    }, UPGRADE_GRACE_MS).unref();
  }
}
