import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceStatus } from '../src/index.js';
import { FakeServer } from './fake-server.js';
import { closeAllClients, inState, makeClient, nextEvent } from './helpers.js';

let server: FakeServer;

beforeEach(async () => {
  server = await FakeServer.start({ heartbeatMs: 1_000 });
});

afterEach(async () => {
  closeAllClients();
  await server.stop();
});

describe('service status (the status frame)', () => {
  it('is ok until the server says degraded, follows each change, and is ok again on a new connection', async () => {
    const { client } = makeClient(server);
    const seen: ServiceStatus[] = [];
    client.on('service', (s) => seen.push(s));
    client.connect();
    await inState(client, 'open');
    expect(client.service).toEqual({ state: 'ok' });
    const conn = await server.connection(1);

    const degraded = nextEvent(client, 'service', (s) => s.state === 'degraded');
    conn.send({ type: 'status', service: 'degraded', reason: 'Redis at 127.0.0.1:1 is unreachable' });
    expect(await degraded).toEqual({ state: 'degraded', reason: 'Redis at 127.0.0.1:1 is unreachable' });
    expect(client.service).toEqual({ state: 'degraded', reason: 'Redis at 127.0.0.1:1 is unreachable' });

    const ok = nextEvent(client, 'service', (s) => s.state === 'ok');
    conn.send({ type: 'status', service: 'ok' });
    await ok;

    conn.send({ type: 'status', service: 'degraded', reason: 'down' });
    await nextEvent(client, 'service', (s) => s.state === 'degraded');
    // A new pod knows nothing of the old one's trouble: the next welcome resets it.
    const reset = nextEvent(client, 'service', (s) => s.state === 'ok');
    conn.terminate();
    await server.connection(2);
    await reset;
    expect(seen.map((s) => s.state)).toEqual(['degraded', 'ok', 'degraded', 'ok']);
  });

  it('does not fire for a repeated status', async () => {
    const { client } = makeClient(server);
    const seen: ServiceStatus[] = [];
    client.on('service', (s) => seen.push(s));
    client.connect();
    await inState(client, 'open');
    const conn = await server.connection(1);
    conn.send({ type: 'status', service: 'ok' });
    conn.send({ type: 'status', service: 'degraded', reason: 'x' });
    conn.send({ type: 'status', service: 'degraded', reason: 'x' });
    // Frames of one socket are handled in order: once this `ok` is seen, all before it were.
    const ok = nextEvent(client, 'service', (s) => s.state === 'ok');
    conn.send({ type: 'status', service: 'ok' });
    await ok;
    expect(seen.map((s) => s.state)).toEqual(['degraded', 'ok']);
  });
});

describe('reconnectNow ("Retry now")', () => {
  it('skips the backoff wait: the next attempt starts at once', async () => {
    const slow = { baseMs: 60_000, capMs: 60_000, slowBaseMs: 60_000, slowCapMs: 60_000, soonMaxMs: 60_000 };
    const { client } = makeClient(server, { backoff: slow });
    expect(client.reconnectNow()).toBe(false); // closed: nothing to retry
    client.connect();
    await inState(client, 'open');
    expect(client.reconnectNow()).toBe(false); // open
    const waiting = inState(client, 'reconnecting');
    (await server.connection(1)).terminate();
    const status = await waiting;
    expect(status.retryInMs).toBeGreaterThan(1_000);
    expect(client.reconnectNow()).toBe(true);
    await server.connection(2);
    await inState(client, 'open');
  });
});
