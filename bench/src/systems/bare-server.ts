/**
 * System (c): the bare limit. A `ws` server and ioredis, nothing else: a client joins a room,
 * a send is PUBLISHed to the room's channel, and every process forwards what it receives to
 * its local sockets of that room (one Buffer per message, sent to each socket). No framework,
 * no auth, no history, no durability, no backpressure policy.
 */
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { type WebSocket, WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? '0');
const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();
const rooms = new Map<string, Set<WebSocket>>();
/** Subscriptions being confirmed: a join is answered once live delivery for the room is on. */
const subscribing = new Map<string, Promise<unknown>>();
const PREFIX = 'bare:';

sub.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
  const members = rooms.get(channel.toString().slice(PREFIX.length));
  if (!members) return;
  for (const ws of members) ws.send(payload, { binary: false });
});

const http = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404).end();
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 16384 });

interface Frame {
  t: string;
  room: string;
  clientMsgId?: string;
  text?: string;
}

wss.on('connection', (ws) => {
  const mine = new Set<string>();
  ws.on('message', (data: Buffer) => {
    const f = JSON.parse(data.toString()) as Frame;
    if (f.t === 'join') {
      let members = rooms.get(f.room);
      if (!members) {
        members = new Set();
        rooms.set(f.room, members);
        subscribing.set(f.room, sub.subscribe(PREFIX + f.room));
      }
      members.add(ws);
      mine.add(f.room);
      const joined = `{"t":"joined","room":${JSON.stringify(f.room)}}`;
      void (subscribing.get(f.room) ?? Promise.resolve()).then(() => ws.send(joined));
    } else if (f.t === 'send') {
      const msg = JSON.stringify({
        t: 'msg',
        room: f.room,
        clientMsgId: f.clientMsgId,
        text: f.text,
        ts: Date.now(),
      });
      pub.publish(PREFIX + f.room, msg).then(
        () =>
          ws.send(
            `{"t":"ack","room":${JSON.stringify(f.room)},"clientMsgId":${JSON.stringify(f.clientMsgId)}}`,
          ),
        () => {},
      );
    }
  });
  ws.on('close', () => {
    for (const room of mine) {
      const members = rooms.get(room);
      members?.delete(ws);
      if (members?.size === 0) {
        rooms.delete(room);
        subscribing.delete(room);
        void sub.unsubscribe(PREFIX + room);
      }
    }
  });
  ws.send('{"t":"welcome"}');
});

http.listen(port, '127.0.0.1', () => process.send?.({ ready: true }));
