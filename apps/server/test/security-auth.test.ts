import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalizeDisplayName, type TokenResponse, USER_ID_PATTERN } from '@chat/protocol';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import app from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { type RunningApp, type ServerProcess, spawnServer, startApp, TestClient } from './harness.js';
import { HONEST_RTT_BOUND_MS, HonestProcess } from './security-helpers.js';

const post = (base: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/api/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('impersonation through the dev token endpoint', () => {
  let srv: ServerProcess;
  let honest: HonestProcess;
  beforeAll(async () => {
    srv = await spawnServer({ LOG_LEVEL: 'warn' });
    honest = await HonestProcess.start(srv.wsUrl, await srv.token('honest'));
  });
  afterAll(async () => {
    await honest.close();
    expect(await srv.stop()).toBe(0);
  });

  it("never issues a token for someone else's id; a browser key keeps its own id", async () => {
    const aliceKey = 'alice-browser-secret-0123456789';
    const alice = (await (await post(srv.url, { name: 'alice', key: aliceKey })).json()) as TokenResponse;
    const again = (await (await post(srv.url, { name: 'alice', key: aliceKey })).json()) as TokenResponse;
    expect(again.user.id).toBe(alice.user.id);

    const probe = honest.probe();
    // What the attacker knows: alice's id (presence and every message show it).
    const attempts = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2
          ? post(srv.url, { name: 'alice', id: alice.user.id }).then((r) => r.status)
          : post(srv.url, { name: 'alice', key: `mallory-guess-${i}-0123456789abc` }).then(
              async (r) => ((await r.json()) as TokenResponse).user.id,
            ),
      ),
    );
    const rtt = await probe.stop();
    expect(attempts.filter((a) => a === 400)).toHaveLength(20);
    expect(attempts).not.toContain(alice.user.id);
    // A hand-made id is not an id this server derives.
    expect(alice.user.id).toMatch(new RegExp(USER_ID_PATTERN));

    // The forged session cannot act as alice: its messages carry the attacker's own id.
    const forged = (await (await post(srv.url, { name: 'alice' })).json()) as TokenResponse;
    const a = await TestClient.connect(srv.wsUrl, alice.token);
    const m = await TestClient.connect(srv.wsUrl, forged.token);
    await a.join('room');
    await m.join('room');
    const ack = await m.say('room', 'I am alice');
    const seen = await a.next('msg', (f) => f.id === ack.id);
    expect(seen.from.id).not.toBe(alice.user.id);
    expect(rtt.p90).toBeLessThan(HONEST_RTT_BOUND_MS);
    console.log(`impersonation: 20 forged ids refused 400, 20 guessed keys got other ids; ${rtt}`);
    await Promise.all([a.close(), m.close()]);
  });
});

describe('the dev token endpoint is rate limited per IP', () => {
  let srv: ServerProcess;
  beforeAll(async () => {
    srv = await spawnServer({ LOG_LEVEL: 'warn', DEV_TOKEN_RATE_PER_MIN: '30' });
  });
  afterAll(async () => {
    expect(await srv.stop()).toBe(0);
  });

  it('answers 429 with Retry-After past the burst, and X-Forwarded-For does not reset it', async () => {
    const statuses: number[] = [];
    let retryAfter = '';
    for (let i = 0; i < 25; i++) {
      const res = await post(srv.url, { name: `n${i}` }, { 'x-forwarded-for': `10.1.2.${i}` });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after') ?? '';
    }
    expect(statuses.filter((s) => s === 200).length).toBe(10);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });
});

describe('dev tokens are for development', () => {
  it('are off by default when NODE_ENV=production, on when asked', async () => {
    const prod = loadConfig({ NODE_ENV: 'production', TOKEN_SECRET: 'x'.repeat(32) });
    expect(prod.DEV_TOKENS).toBe(false);
    expect(
      loadConfig({ NODE_ENV: 'production', TOKEN_SECRET: 'x'.repeat(32), DEV_TOKENS: 'true' }).DEV_TOKENS,
    ).toBe(true);
    expect(loadConfig({}).DEV_TOKENS).toBe(true);
    const f = Fastify();
    await f.register(app, { config: { ...prod, LOG_LEVEL: 'silent' }, web: false });
    expect((await f.inject({ method: 'POST', url: '/api/token', payload: { name: 'x' } })).statusCode).toBe(
      404,
    );
    await f.close();
  });
});

describe('display names', () => {
  it.each([
    ['a bidi override', 'evil\u202Egnp.exe'],
    ['a bidi isolate', 'a\u2066b'],
    ['a zero-width space', 'ad\u200Bmin'],
    ['a zero-width joiner', 'ad\u200Dmin'],
    ['a BOM', '\uFEFFadmin'],
    ['a C1 control', 'adm\u0085in'],
    ['a C0 control', 'ad\u0007min'],
    ['a line separator', 'ad\u2028min'],
  ])('refuses %s (the shared rule, at the endpoint and in tokens)', async (_what, name) => {
    expect(normalizeDisplayName(name).ok).toBe(false);
    const srv = await startApp({});
    try {
      const res = await srv.app.inject({ method: 'POST', url: '/api/token', payload: { name } });
      expect(res.statusCode).toBe(400);
      // A token signed with the shared secret but carrying such a name is refused at the upgrade.
      const forged = srv.app.tokens.issue(name).token;
      await expect(new TestClient(srv.wsUrl, forged).opened).rejects.toThrow('HTTP 401');
    } finally {
      await srv.close();
    }
  });

  it('normalizes compatibility forms (NFKC) and white space', () => {
    expect(normalizeDisplayName('  ｆｕｌｌ   width ')).toEqual({ ok: true, value: 'full width' });
    expect(normalizeDisplayName('ﬁsh')).toEqual({ ok: true, value: 'fish' });
    expect(normalizeDisplayName('x'.repeat(33)).ok).toBe(false);
  });
});

describe('Origin and proxies', () => {
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp({ ALLOWED_ORIGINS: '' });
  });
  afterAll(async () => srv.close());

  const attempt = (headers: Record<string, string>) =>
    new TestClient(srv.wsUrl, srv.token(), headers).opened.then(
      () => 'opened',
      (err: Error) => err.message,
    );

  it('compares scheme and host with the request, and ignores X-Forwarded-* when not trusted', async () => {
    const host = new URL(srv.url).host;
    expect(await attempt({ origin: `http://${host}` })).toBe('opened');
    expect(await attempt({ origin: `https://${host}` })).toBe('HTTP 403');
    expect(await attempt({ origin: 'http://evil.example' })).toBe('HTTP 403');
    expect(await attempt({ origin: `http://${host}.evil.example` })).toBe('HTTP 403');
    expect(
      await attempt({
        origin: 'https://evil.example',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
      }),
    ).toBe('HTTP 403');
  });

  it('honours X-Forwarded-Proto/-Host from a trusted proxy only', async () => {
    const behind = Fastify({ trustProxy: ['127.0.0.1'] });
    await behind.register(app, {
      config: loadConfig({ LOG_LEVEL: 'silent', TOKEN_SECRET: 'x'.repeat(32), ALLOWED_ORIGINS: '' }),
      web: false,
    });
    const base = await behind.listen({ port: 0, host: '127.0.0.1' });
    const token = behind.tokens.issue('p').token;
    const viaProxy = new TestClient(`${base.replace('http', 'ws')}/ws`, token, {
      origin: 'https://chat.example',
      'x-forwarded-host': 'chat.example',
      'x-forwarded-proto': 'https',
    });
    await viaProxy.opened;
    await viaProxy.close();
    await behind.close();
  });
});

describe('web surface', () => {
  let srv: RunningApp;
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'chat-web-'));
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>chat</title>');
    writeFileSync(join(root, 'app.js'), 'console.log(1)');
    writeFileSync(join(root, 'app.js.map'), '{"version":3}');
    srv = await startApp({ WEB_ROOT: root, CSP_CONNECT_SRC: 'https://api.example' }, { web: true });
  });
  afterAll(async () => {
    await srv.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('limits CSP connect-src to its own origin and the configured ones', async () => {
    const csp = String((await srv.app.inject('/')).headers['content-security-policy']);
    const connect = /connect-src ([^;]*)/.exec(csp)?.[1];
    expect(connect).toBe("'self' https://api.example");
  });

  it('serves no source maps and no /metrics on the public port', async () => {
    expect((await srv.app.inject('/app.js')).statusCode).toBe(200);
    expect((await srv.app.inject('/app.js.map')).statusCode).toBe(404);
    expect((await srv.app.inject('/metrics')).statusCode).toBe(404);
  });
});

describe('the metrics listener', () => {
  let srv: ServerProcess;
  beforeAll(async () => {
    srv = await spawnServer({ LOG_LEVEL: 'warn' });
  });
  afterAll(async () => {
    expect(await srv.stop()).toBe(0);
  });

  it('serves /metrics on its own port, and only that', async () => {
    expect(await srv.metrics()).toMatch(/^chat_connections_active/m);
    expect((await fetch(`${srv.url}/metrics`)).status).toBe(404);
  });
});
