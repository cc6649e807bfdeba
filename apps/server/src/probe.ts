import { parseArgs } from 'node:util';
import {
  DEFAULT_TOKEN_AUDIENCE,
  DEFAULT_TOKEN_ISSUER,
  decodeServerFrame,
  handshakeProtocols,
  TOKEN_PATH,
  type TokenResponse,
} from '@chat/protocol';
import WebSocket from 'ws';
import { createTokens } from './auth/tokens.js';

/**
 * End-to-end probe (the chart's `helm test` hook, also handy by hand): get a token, open the
 * WebSocket, wait for `welcome`, send a ping, and exit 0 on the pong.
 *   node dist/probe.js --url ws://chat:8080/ws
 * Signs its own token when TOKEN_SECRET is set, else asks POST /api/token on the same host.
 */
const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://localhost:8080/ws' },
    timeout: { type: 'string', default: '10000' },
  },
});
const url = new URL(values.url);
const timeoutMs = Number(values.timeout);

async function token(): Promise<string> {
  const secret = process.env.TOKEN_SECRET;
  if (secret) {
    return createTokens({
      secret,
      issuer: process.env.TOKEN_ISSUER || DEFAULT_TOKEN_ISSUER,
      audience: process.env.TOKEN_AUDIENCE || DEFAULT_TOKEN_AUDIENCE,
      ttlS: 60,
    }).issue('helm-test').token;
  }
  const http = new URL(TOKEN_PATH, url);
  http.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  const res = await fetch(http, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'probe' }),
  });
  if (!res.ok) throw new Error(`POST ${TOKEN_PATH} answered ${res.status}`);
  return ((await res.json()) as TokenResponse).token;
}

async function main(): Promise<void> {
  const started = performance.now();
  const ws = new WebSocket(url, handshakeProtocols(await token()));
  const result = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no pong within ${timeoutMs} ms`)), timeoutMs);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`closed with ${code}`)));
    ws.on('message', (data) => {
      const decoded = decodeServerFrame(data.toString());
      if (!decoded.ok) return reject(new Error(`bad frame: ${decoded.message}`));
      const f = decoded.frame;
      if (f.type === 'welcome') ws.send(JSON.stringify({ type: 'ping', t: Date.now() }));
      if (f.type === 'pong') {
        clearTimeout(timer);
        resolve(`pong from ${url.host} in ${Math.round(performance.now() - started)} ms`);
      }
    });
  });
  ws.removeAllListeners('close');
  ws.close(1000);
  process.stdout.write(`ok: ${result}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`probe failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
