import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  rawSocket,
  releaseUpgradeResponse,
  replaceErrorListener,
  VERIFIED_WITH,
} from '../src/ws/library-internals.js';

const require = createRequire(import.meta.url);
const installed = (name: string): string => {
  const dir = require.resolve(`${name}/package.json`);
  return (JSON.parse(readFileSync(dir, 'utf8')) as { version: string }).version;
};

/** Pins what ws/library-internals.ts reads from ws and @fastify/websocket internals. */
describe('library internals', () => {
  it('were verified with exactly the installed versions (re-check library-internals.ts, then bump)', () => {
    expect({ ws: installed('ws'), '@fastify/websocket': installed('@fastify/websocket') }).toEqual(
      VERIFIED_WITH,
    );
  });

  it('still hold on a real upgrade: _socket, _httpMessage and the plugin error listener', async () => {
    const app = Fastify();
    await app.register(websocket);
    const seen: {
      raw?: Socket;
      hadResponse?: boolean;
      responseAfterRelease?: unknown;
      errorListenersBefore?: number;
      errorListenersAfter?: number;
    } = {};
    app.get('/ws', { websocket: true }, (socket, req) => {
      seen.raw = rawSocket(socket);
      const underlying = req.raw.socket as Socket & { _httpMessage?: unknown };
      seen.hadResponse = underlying._httpMessage != null;
      releaseUpgradeResponse(req.raw.socket);
      seen.responseAfterRelease = underlying._httpMessage;
      seen.errorListenersBefore = socket.listenerCount('error');
      replaceErrorListener(socket, () => {});
      seen.errorListenersAfter = socket.listenerCount('error');
      socket.send('ok');
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const client = new WebSocket(`${address.replace('http', 'ws')}/ws`);
    await new Promise((resolve) => client.once('message', resolve));
    client.close();
    await app.close();
    expect(typeof seen.raw?.write).toBe('function');
    expect(seen.hadResponse).toBe(true);
    expect(seen.responseAfterRelease ?? null).toBeNull();
    // The plugin adds one listener of its own; ours replaces it instead of adding a second.
    expect(seen.errorListenersBefore).toBeGreaterThanOrEqual(1);
    expect(seen.errorListenersAfter).toBe(1);
  });
});
