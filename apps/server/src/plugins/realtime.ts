import { randomUUID } from 'node:crypto';
import {
  CloseCode,
  drainWindowMs,
  encodeCloseReason,
  SUBPROTOCOL,
  tokenFromProtocols,
  WS_PATH,
} from '@chat/protocol';
import websocket from '@fastify/websocket';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { RawData, WebSocket } from 'ws';
import type { VerifiedUser } from '../auth/tokens.js';
import { ConnectionCaps } from '../ws/conn-limits.js';
import { Conn, type ConnLimits } from '../ws/connection.js';
import { FrameDispatcher } from '../ws/dispatcher.js';
import { FrameBudget, RATE_CLOSE_RETRY_MS } from '../ws/frame-budget.js';
import { frame } from '../ws/frames.js';
import { Hub } from '../ws/hub.js';
import { releaseUpgradeResponse, replaceErrorListener } from '../ws/library-internals.js';
import { originPolicy } from '../ws/origin.js';
import { expiresIn } from '../ws/refresh.js';
import { ServiceStatus } from '../ws/service-status.js';
import { SessionLog } from '../ws/session-log.js';
import { SocketShutdown } from '../ws/shutdown.js';

declare module 'fastify' {
  interface FastifyInstance {
    hub: Hub;
  }
  interface FastifyRequest {
    chatAuth?: VerifiedUser;
  }
}

const kConn = Symbol('chat.conn');
type ChatSocket = WebSocket & { [kConn]?: Conn };

/** Seconds a refused client should wait before retrying (sent as Retry-After). */
const RETRY_AFTER_S = '2';
/** Reconnect delay suggested in the close reason of a drain (the client jitters below it). */
const DRAIN_RECONNECT_HINT_MS = 1000;

/**
 * The WebSocket endpoint. Everything that can refuse a client is checked before the upgrade,
 * in order of cost, and costs no broker work: draining, Origin, capacity, token.
 */
export default fp(
  async (app) => {
    const { config, metrics, lifecycle } = app;
    const verifyToken = app.verifyToken;
    const hub = new Hub(
      app.broker,
      {
        nodeId: config.NODE_ID,
        maxRoomsPerConn: config.MAX_ROOMS_PER_CONN,
        maxTextChars: config.MAX_TEXT_CHARS,
        historyPage: config.HISTORY_PAGE,
        replayPage: config.HISTORY_REPLAY_PAGE,
        historyReads: config.HISTORY_READS_PER_POD,
        historyReadQueue: config.HISTORY_READ_QUEUE,
        historyBytesPerS: config.HISTORY_READ_BYTES_PER_S,
        sendBufferLimit: config.SEND_BUFFER_LIMIT_BYTES,
        userRatePerS: config.USER_RATE_LIMIT_PER_S,
        userRateBurst: config.USER_RATE_LIMIT_BURST,
        heartbeatMs: config.HEARTBEAT_MS,
        liveCheckMs: config.LIVE_CHECK_MS,
      },
      metrics,
      app.log,
    );
    app.decorate('hub', hub);
    const status = new ServiceStatus(app.brokerHealth, hub.conns);
    const sessions = new SessionLog(app.log);
    const originAllowed = originPolicy(config.ALLOWED_ORIGINS);

    const shutdown = new SocketShutdown(app.server);
    const caps = new ConnectionCaps(config.MAX_CONNECTIONS_PER_USER, config.MAX_CONNECTIONS_PER_IP);
    const dispatcher = new FrameDispatcher({
      hub,
      budget: new FrameBudget({
        closeAfterRefusals: config.RATE_LIMIT_CLOSE_AFTER,
        closeAfterErrors: config.PROTOCOL_ERROR_CLOSE_AFTER,
      }),
      sessions,
      status,
      verifyToken,
      metrics,
      closeAfterRefusals: config.RATE_LIMIT_CLOSE_AFTER,
    });

    await app.register(websocket, {
      // The plugin's default closes every socket with no code (1005 at the client) before our
      // onClose runs; a forced stop must say 1001 and why, so clients resume at once.
      preClose(done) {
        shutdown.stop(hub.conns, app.websocketServer);
        done();
      },
      options: {
        maxPayload: config.MAX_PAYLOAD_BYTES,
        // ws >= 8.23: bounds on the parts of one message (1-byte fragments cost ~100 bytes each).
        ...wsFragmentLimits(config.WS_MAX_FRAGMENTS),
        handleProtocols: (protocols: Set<string>) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
      },
    });

    // One object shared by every socket (per-socket copies cost memory at 10k+ sockets).
    const connLimits: ConnLimits = {
      ratePerS: config.RATE_LIMIT_PER_S,
      rateBurst: config.RATE_LIMIT_BURST,
      sendBufferLimit: config.SEND_BUFFER_LIMIT_BYTES,
      onServerClose: (code) => metrics.closes.inc({ code: String(code) }),
    };

    const limits = {
      framesPerS: config.RATE_LIMIT_PER_S,
      framesBurst: config.RATE_LIMIT_BURST,
      messagesPerS: config.USER_RATE_LIMIT_PER_S,
      messagesBurst: config.USER_RATE_LIMIT_BURST,
    };

    const refuse = (reply: FastifyReply, code: number, reason: string, message: string) => {
      metrics.refused.inc({ reason });
      if (code === 503 || code === 429) reply.header('retry-after', RETRY_AFTER_S);
      return reply.code(code).send({ error: reason, message });
    };

    const preValidation = async (req: FastifyRequest, reply: FastifyReply) => {
      if (lifecycle.draining || shutdown.stopping) {
        return refuse(reply, 503, 'draining', 'this pod is shutting down; retry');
      }
      if (!originAllowed(req.headers.origin, `${req.protocol}://${req.host}`)) {
        return refuse(reply, 403, 'origin', 'origin not allowed');
      }
      if (hub.conns.size >= config.MAX_CONNECTIONS) {
        return refuse(reply, 503, 'capacity', 'this pod is at capacity; retry');
      }
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      const verified = await verifyToken(tokenFromProtocols(offered));
      if (!verified.ok) return refuse(reply, 401, 'token', verified.reason);
      if (!offered.includes(SUBPROTOCOL)) {
        return refuse(reply, 400, 'subprotocol', `offer the "${SUBPROTOCOL}" subprotocol`);
      }
      const capped = caps.exceeded(verified.value.user.id, req.ip);
      if (capped) return refuse(reply, 429, `${capped}_connections`, `too many sockets for this ${capped}`);
      req.chatAuth = verified.value;
      return undefined;
    };

    app.get(WS_PATH, { websocket: true, preValidation }, (socket: WebSocket, req: FastifyRequest) => {
      if (shutdown.stopping) {
        socket.close(CloseCode.GoingAway, 'server stopping');
        return;
      }
      const auth = req.chatAuth;
      req.chatAuth = undefined;
      releaseUpgradeResponse(req.raw.socket);
      if (!auth) {
        socket.close(CloseCode.Unauthorized, 'token missing');
        return;
      }
      // Checked again: upgrades verified concurrently may have filled the cap meanwhile.
      if (!caps.acquire(auth.user.id, req.ip)) {
        metrics.closes.inc({ code: String(CloseCode.RateLimited) });
        socket.close(CloseCode.RateLimited, encodeCloseReason('too many sockets', RATE_CLOSE_RETRY_MS));
        return;
      }
      const conn = new Conn(socket, randomUUID().slice(0, 12), auth, connLimits, Date.now(), req.ip);
      hub.add(conn);
      // One set of listener functions for every socket, finding the Conn on the socket: a
      // closure per socket and event costs memory at 10k+ sockets. Nothing here may capture
      // `req` either: it would keep the upgrade request (headers, reply, child logger) alive.
      (socket as ChatSocket)[kConn] = conn;
      socket.on('close', onClose);
      replaceErrorListener(socket, onError);
      socket.on('message', onMessage);
      conn.send(
        frame({
          type: 'welcome',
          node: config.NODE_ID,
          connId: conn.id,
          user: conn.user,
          heartbeatMs: config.HEARTBEAT_MS,
          maxTextChars: config.MAX_TEXT_CHARS,
          limits,
          expiresInMs: expiresIn(conn.expiresAt, Date.now()),
        }),
      );
      sessions.opened(conn);
      status.greet(conn);
    });

    function onClose(this: ChatSocket, code: number, reason: Buffer): void {
      const conn = this[kConn];
      if (!conn) return;
      hub.remove(conn);
      sessions.closed(conn, code, reason.toString('utf8'));
      caps.release(conn.user.id, conn.ip);
    }

    function onError(this: ChatSocket, err: Error): void {
      app.log.debug({ err: err.message, conn: this[kConn]?.id }, 'socket error');
    }

    function onMessage(this: ChatSocket, data: RawData, isBinary: boolean): void {
      const conn = this[kConn];
      if (conn) dispatcher.dispatch(conn, data, isBinary);
    }

    const heartbeat = setInterval(() => hub.heartbeat(Date.now()), config.HEARTBEAT_MS);
    heartbeat.unref();

    lifecycle.onDrain(async () => {
      const n = hub.conns.size;
      const window = drainWindowMs(n, config.DRAIN_WINDOW_MS, config.DRAIN_MAX_CLOSE_RATE);
      app.log.info({ sockets: n, windowMs: Math.round(window) }, 'draining sockets');
      const closed = await hub.drain(window, DRAIN_RECONNECT_HINT_MS);
      app.log.info({ closed }, 'all sockets closed');
    });

    app.addHook('onClose', async () => {
      clearInterval(heartbeat);
      hub.close();
      status.close();
      // Whatever a drain did not close (tests, a forced stop) goes now, as a restart.
      await Promise.all([...hub.conns].map((c) => c.close(CloseCode.GoingAway, 'server stopping')));
    });
  },
  { name: 'realtime', dependencies: ['config', 'metrics', 'broker', 'lifecycle', 'auth'] },
);

/** ws >= 8.23 options: fragments per message, and partial-frame chunks buffered per socket. */
function wsFragmentLimits(maxFragments: number): Record<string, number> {
  return { maxFragments, maxBufferedChunks: 256 };
}
