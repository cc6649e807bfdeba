/**
 * System (b): Socket.IO 4.8 + @socket.io/redis-adapter, written the way its documentation
 * shows. One process of a 3-process deployment; rooms via socket.join, a `send` event that
 * broadcasts `msg` with io.to(room).emit and acknowledges through the ack callback.
 * Authenticates the same HS256 token as the chat server (in a middleware).
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createVerifier } from 'fast-jwt';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? '0');
const node = process.env.NODE_ID ?? `sio-${process.pid}`;
const verify = createVerifier({
  key: process.env.TOKEN_SECRET ?? '',
  algorithms: ['HS256'],
  allowedAud: 'chat',
  allowedIss: 'realtime-chat',
  cache: 10_000,
});

const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();

const http = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200).end('ok');
    return;
  }
  res.writeHead(404).end();
});
const io = new Server(http, { transports: ['websocket'], serveClient: false, maxHttpBufferSize: 16384 });
io.adapter(createAdapter(pub, sub));

interface SendEvent {
  room: string;
  clientMsgId: string;
  text: string;
}

io.use((socket, next) => {
  try {
    const claims = verify(String(socket.handshake.auth.token ?? '')) as { sub: string; name: string };
    socket.data.user = { id: claims.sub, name: claims.name };
    next();
  } catch {
    next(new Error('unauthorized'));
  }
});

let seq = 0;
io.on('connection', (socket) => {
  socket.on('join', (room: string, ack: (err: null) => void) => {
    void socket.join(room);
    ack(null);
  });
  socket.on('send', (m: SendEvent, ack: (res: { ok: boolean; id: string }) => void) => {
    const id = `${node}-${seq++}`;
    io.to(m.room).emit('msg', {
      id,
      room: m.room,
      from: socket.data.user,
      text: m.text,
      ts: Date.now(),
      clientMsgId: m.clientMsgId,
    });
    ack({ ok: true, id });
  });
});

http.listen(port, '127.0.0.1', () => process.send?.({ ready: true }));
