import type { ChatMessage } from '@chat/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatClient } from '../src/index.js';
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

async function joined(overrides: Parameters<typeof makeClient>[1] = {}) {
  const t = makeClient(server, overrides);
  const received: ChatMessage[] = [];
  t.client.on('message', (m) => received.push(m));
  t.client.connect();
  await t.client.join('general');
  return { ...t, received };
}

function pending(client: ChatClient) {
  return client.getRoom('general')?.pending.map((p) => ({ text: p.text, status: p.status })) ?? [];
}

/** A ping round trip: everything the client sent before it has reached the server. */
async function roundTrip(client: ChatClient): Promise<void> {
  const before = server.received.length;
  client.ping();
  await server.frame('ping', () => true, before);
}

describe('send', () => {
  it('resolves on the ack and shows the message once', async () => {
    const { client, received } = await joined();
    const handle = client.send('general', 'hello');
    expect(handle.clientMsgId).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    expect(pending(client)).toEqual([{ text: 'hello', status: 'sending' }]);
    const ack = await handle;
    expect(ack).toMatchObject({ clientMsgId: handle.clientMsgId, room: 'general', duplicate: false });
    expect(ack.id).toBe(server.history('general')[0]?.id);
    await roundTrip(client);
    expect(pending(client)).toEqual([]);
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['hello']);
    expect(received.map((m) => m.text)).toEqual(['hello']);
  });

  it('shows the message once when the ack comes before its own msg', async () => {
    server.sendBehaviour = () => 'ack-first';
    const { client, received } = await joined();
    const ack = await client.send('general', 'ack first');
    expect(client.getRoom('general')?.messages.map((m) => m.id)).toEqual([ack.id]);
    await roundTrip(client);
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['ack first']);
    expect(received).toHaveLength(1);
  });

  it('treats its own msg as delivered when the ack is late, and ignores the late ack', async () => {
    server.sendBehaviour = () => 'hold';
    const { client, received } = await joined();
    const handle = client.send('general', 'held');
    const result = await handle;
    expect(result.id).toBe(server.history('general')[0]?.id);
    expect(pending(client)).toEqual([]);
    const ackEvent = nextEvent(client, 'ack');
    server.releaseAcks();
    await ackEvent;
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['held']);
    expect(received).toHaveLength(1);
  });

  it('queues messages typed while disconnected and sends each exactly once after re-joining', async () => {
    const { client } = await joined();
    const conn = await server.connection(1);
    server.refuseWith = 503;
    conn.terminate();
    await inState(client, 'reconnecting');
    const a = client.send('general', 'first');
    const b = client.send('general', 'second');
    expect(pending(client)).toEqual([
      { text: 'first', status: 'queued' },
      { text: 'second', status: 'queued' },
    ]);
    await server.until(() => server.upgradeTokens.length >= 3);
    server.refuseWith = undefined;
    const [ra, rb] = await Promise.all([a, b]);
    await roundTrip(client);
    const sends = server.framesOf('send');
    expect(sends.map((s) => [s.clientMsgId, s.text])).toEqual([
      [a.clientMsgId, 'first'],
      [b.clientMsgId, 'second'],
    ]);
    // Sent on the new connection, after its join.
    const second = server.connections.at(-1);
    const frames = second?.frames.map((f) => f.type);
    expect(frames?.indexOf('join')).toBeLessThan(frames?.indexOf('send') ?? -1);
    expect(ra.duplicate || rb.duplicate).toBe(false);
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['first', 'second']);
  });

  it('resends an unacked in-flight message after reconnect with the same clientMsgId', async () => {
    let first = true;
    server.sendBehaviour = () => {
      if (!first) return 'ack';
      first = false;
      return 'drop';
    };
    const { client, received } = await joined();
    const handle = client.send('general', 'lost in transit');
    await server.frame('send');
    (await server.connection(1)).terminate();
    const result = await handle;
    const sends = server.framesOf('send');
    expect(sends.map((s) => s.clientMsgId)).toEqual([handle.clientMsgId, handle.clientMsgId]);
    expect(result.duplicate).toBe(false);
    await roundTrip(client);
    expect(received.map((m) => m.text)).toEqual(['lost in transit']);
  });

  it('shows once a message stored before its ack was lost (resent and acked as duplicate)', async () => {
    let first = true;
    server.sendBehaviour = () => {
      if (!first) return 'ack';
      first = false;
      return 'store-silently';
    };
    const { client, received } = await joined({ ackTimeoutMs: 40 });
    const handle = client.send('general', 'stored once');
    const result = await handle;
    expect(result.duplicate).toBe(true);
    expect(server.framesOf('send').map((s) => s.clientMsgId)).toEqual([
      handle.clientMsgId,
      handle.clientMsgId,
    ]);
    expect(server.history('general')).toHaveLength(1);
    await roundTrip(client);
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['stored once']);
    expect(received).toHaveLength(1);
  });

  it('is settled by the resume replay when the message was stored but the ack was lost', async () => {
    server.sendBehaviour = () => 'store-silently';
    const { client, received } = await joined();
    const handle = client.send('general', 'durable');
    await server.frame('send');
    server.sendBehaviour = () => 'ack';
    (await server.connection(1)).terminate();
    const result = await handle;
    expect(result.id).toBe(server.history('general')[0]?.id);
    await roundTrip(client);
    // The replay after `since` carried it: no resend was needed.
    expect(server.framesOf('send')).toHaveLength(1);
    expect(received.map((m) => m.text)).toEqual(['durable']);
  });

  it('keeps a message pending while storage is unavailable and retries it with the same clientMsgId', async () => {
    let calls = 0;
    server.sendBehaviour = () => (++calls === 1 ? { error: 'unavailable', retryAfterMs: 20 } : 'ack');
    const { client } = await joined();
    const handle = client.send('general', 'patience');
    const error = await nextEvent(client, 'error');
    expect(error).toMatchObject({ code: 'unavailable', ref: handle.clientMsgId });
    expect(pending(client)).toEqual([{ text: 'patience', status: 'queued' }]);
    await handle;
    expect(server.framesOf('send').map((s) => s.clientMsgId)).toEqual([
      handle.clientMsgId,
      handle.clientMsgId,
    ]);
  });

  it('waits retryAfterMs after rate_limited, holding later messages back in order', async () => {
    let calls = 0;
    server.sendBehaviour = () => (++calls === 1 ? { error: 'rate_limited', retryAfterMs: 60 } : 'ack');
    const { client } = await joined();
    const a = client.send('general', 'a');
    await nextEvent(client, 'error');
    const b = client.send('general', 'b');
    await Promise.all([a, b]);
    const sends = server.received.filter((r) => r.frame.type === 'send');
    expect(sends.map((r) => (r.frame.type === 'send' ? r.frame.text : ''))).toEqual(['a', 'a', 'b']);
    const [firstTry, retry] = sends;
    expect((retry?.at ?? 0) - (firstTry?.at ?? 0)).toBeGreaterThanOrEqual(50);
    expect(client.getRoom('general')?.messages.map((m) => m.text)).toEqual(['a', 'b']);
  });

  it('marks a message refused for good as failed, and can retry it', async () => {
    let calls = 0;
    server.sendBehaviour = () => (++calls === 1 ? { error: 'text_too_long' } : 'ack');
    const { client } = await joined();
    const handle = client.send('general', 'too long, says the server');
    await expect(handle).rejects.toMatchObject({ code: 'text_too_long', ref: handle.clientMsgId });
    expect(pending(client)).toEqual([{ text: 'too long, says the server', status: 'failed' }]);
    expect(client.getRoom('general')?.pending[0]?.error?.code).toBe('text_too_long');
    await roundTrip(client);
    expect(server.framesOf('send')).toHaveLength(1);
    const again = client.retry(handle.clientMsgId);
    expect(again?.clientMsgId).toBe(handle.clientMsgId);
    await again;
    expect(pending(client)).toEqual([]);
  });

  it('refuses locally what cannot be sent', async () => {
    const { client } = await joined();
    await expect(client.send('elsewhere', 'hi')).rejects.toMatchObject({ code: 'not_joined' });
    await expect(client.send('general', '')).rejects.toMatchObject({ code: 'bad_frame' });
    await expect(client.send('general', 'x'.repeat(4001))).rejects.toMatchObject({ code: 'text_too_long' });
    expect(pending(client)).toEqual([]);
  });

  it('rejects the pending messages of a room that is left, and discard() forgets one', async () => {
    server.sendBehaviour = () => 'drop';
    const { client } = await joined();
    await client.join('random');
    const a = client.send('random', 'never');
    client.leave('random');
    await expect(a).rejects.toMatchObject({ code: 'left' });
    const b = client.send('general', 'forget me');
    client.discard(b.clientMsgId);
    await expect(b).rejects.toMatchObject({ code: 'left' });
    expect(client.pending()).toEqual([]);
  });

  it('an ignored rejection is not reported as unhandled', async () => {
    const { client } = await joined();
    client.send('nowhere', 'dropped on the floor');
    await roundTrip(client);
  });
});
