import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { freePort } from '@chat/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type Backend, Balancer } from '../src/index.js';

/** Load balancer unit tests against fake backends (no build, no Redis). */

interface Fake {
  backend: Backend;
  hits: number;
  server: Server;
  wss?: WebSocketServer;
}

const fakes: Fake[] = [];
const balancers: Balancer[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(balancers.splice(0).map((b) => b.close()));
  for (const f of fakes.splice(0)) {
    for (const c of f.wss?.clients ?? []) c.terminate();
    f.server.closeAllConnections();
    await new Promise((r) => f.server.close(r));
  }
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A backend that accepts WebSockets and says its id first; plain GETs answer its id. */
async function wsBackend(id: string): Promise<Fake> {
  const server = createServer((_req, res) => res.end(id));
  const wss = new WebSocketServer({ server });
  const fake: Fake = { backend: { id, host: '127.0.0.1', port: 0, connections: 0 }, hits: 0, server, wss };
  wss.on('connection', (ws) => {
    fake.hits++;
    ws.send(`hello:${id}`);
  });
  fake.backend = { ...fake.backend, port: await listen(server) };
  fakes.push(fake);
  return fake;
}

/** A backend that refuses every upgrade with 503 + Retry-After, like a draining pod. */
async function refusingBackend(id: string): Promise<Fake> {
  const server = createServer((_req, res) => res.end(id));
  const fake: Fake = { backend: { id, host: '127.0.0.1', port: 0, connections: 0 }, hits: 0, server };
  server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    fake.hits++;
    const body = '{"error":"draining"}';
    socket.end(
      `HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
  });
  fake.backend = { ...fake.backend, port: await listen(server) };
  fakes.push(fake);
  return fake;
}

async function balancer(backends: Backend[], attempts = 3): Promise<Balancer> {
  const lb = new Balancer({ backends: () => backends, upgradeAttempts: attempts });
  await lb.listen();
  balancers.push(lb);
  return lb;
}

type Outcome =
  | { ok: true; ws: WebSocket; hello: string }
  | { ok: false; status: number; retryAfter?: string };

function connect(lb: Balancer): Promise<Outcome> {
  const ws = new WebSocket(`ws://127.0.0.1:${lb.port}/ws`);
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => resolve({ ok: true, ws, hello: data.toString() }));
    ws.once('unexpected-response', (_req, res) => {
      const retryAfter = res.headers['retry-after'];
      resolve({ ok: false, status: res.statusCode ?? 0, ...(retryAfter ? { retryAfter } : {}) });
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

async function mustConnect(lb: Balancer): Promise<{ ws: WebSocket; hello: string }> {
  const o = await connect(lb);
  if (!o.ok) throw new Error(`refused with ${o.status}`);
  return o;
}

describe('Balancer', () => {
  it('retries an upgrade answered 503 on another backend, invisibly to the client', async () => {
    const draining = await refusingBackend('draining');
    const good = await wsBackend('good');
    const lb = await balancer([draining.backend, good.backend]);
    const retries: string[] = [];
    lb.on('retry', (r) => retries.push(r.reason));
    for (let i = 0; i < 4; i++) expect((await mustConnect(lb)).hello).toBe('hello:good');
    expect(draining.hits).toBeGreaterThanOrEqual(3);
    expect(lb.stats.retries).toBe(draining.hits);
    expect(retries.every((r) => r === 'draining answered 503')).toBe(true);
    expect(lb.stats.refused).toBe(0);
    expect(good.backend.connections).toBe(4);
    expect(draining.backend.connections).toBe(0);
  });

  it('retries an upgrade whose connection is refused, and reports the backend', async () => {
    const dead: Backend = { id: 'dead', host: '127.0.0.1', port: await freePort(), connections: 0 };
    const good = await wsBackend('good');
    const lb = await balancer([dead, good.backend]);
    const errors: string[] = [];
    lb.on('backendError', (e) => errors.push(`${e.backend}:${e.error}`));
    for (let i = 0; i < 3; i++) expect((await mustConnect(lb)).hello).toBe('hello:good');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toBe('dead:ECONNREFUSED');
    expect(dead.connections).toBe(0);
  });

  it('passes the last 503 (with Retry-After) through when every backend refuses', async () => {
    const a = await refusingBackend('a');
    const b = await refusingBackend('b');
    const lb = await balancer([a.backend, b.backend]);
    const outcome = await connect(lb);
    expect(outcome).toEqual({ ok: false, status: 503, retryAfter: '2' });
    expect(a.hits + b.hits).toBe(2);
    expect(lb.stats.refused).toBe(1);
  });

  it('stops after upgradeAttempts tries', async () => {
    const refusing = await Promise.all(['a', 'b', 'c'].map((id) => refusingBackend(id)));
    const lb = await balancer(
      refusing.map((f) => f.backend),
      2,
    );
    expect(await connect(lb)).toMatchObject({ ok: false, status: 503 });
    expect(refusing.reduce((n, f) => n + f.hits, 0)).toBe(2);
  });

  it('answers 503 itself when no backend is ready', async () => {
    const lb = await balancer([]);
    expect(await connect(lb)).toMatchObject({ ok: false, status: 503, retryAfter: '1' });
    const res = await fetch(`http://127.0.0.1:${lb.port}/readyz`);
    expect(res.status).toBe(503);
  });

  it('routes upgrades to the backend with the fewest connections', async () => {
    const a = await wsBackend('a');
    const b = await wsBackend('b');
    const lb = await balancer([a.backend, b.backend]);
    const opened = [];
    for (let i = 0; i < 4; i++) opened.push(await mustConnect(lb));
    expect(opened.map((o) => o.hello).sort()).toEqual(['hello:a', 'hello:a', 'hello:b', 'hello:b']);
    const onA = opened.find((o) => o.hello === 'hello:a');
    onA?.ws.close();
    await expect.poll(() => a.backend.connections).toBe(1);
    expect((await mustConnect(lb)).hello).toBe('hello:a');
    expect(lb.tunnelCounts()).toEqual(
      new Map([
        ['a', 2],
        ['b', 2],
      ]),
    );
  });

  it('passes a close frame through, and a dead backend socket as 1006', async () => {
    const a = await wsBackend('a');
    const lb = await balancer([a.backend]);
    const first = await mustConnect(lb);
    const closed1 = new Promise<number>((r) => first.ws.once('close', (code) => r(code)));
    for (const c of a.wss?.clients ?? []) c.close(1012, 'restart');
    expect(await closed1).toBe(1012);

    const second = await mustConnect(lb);
    const closed2 = new Promise<number>((r) => second.ws.once('close', (code) => r(code)));
    for (const c of a.wss?.clients ?? []) c.terminate();
    expect(await closed2).toBe(1006);
    await expect.poll(() => a.backend.connections).toBe(0);
  });

  it('proxies plain HTTP round-robin and replays a GET refused by a dead backend', async () => {
    const a = await wsBackend('a');
    const b = await wsBackend('b');
    const dead: Backend = { id: 'dead', host: '127.0.0.1', port: await freePort(), connections: 0 };
    const lb = await balancer([a.backend, dead, b.backend]);
    const bodies = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`http://127.0.0.1:${lb.port}/x`);
      expect(res.status).toBe(200);
      bodies.push(await res.text());
    }
    expect(new Set(bodies)).toEqual(new Set(['a', 'b']));
    const res = await fetch(`http://127.0.0.1:${lb.port}/__cluster/state`);
    expect(res.status).toBe(404);
  });
});
