import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp, TestClient } from './harness.js';

/**
 * Tokens from an identity provider, verified through its JWKS: a real local JWKS server whose
 * keys the test rotates while the chat server runs.
 */
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
type Key = { kid: string; alg: string; privateKey: PrivateKey; jwk: JWK; spki: string };

async function makeKey(kid: string, alg: 'RS256' | 'ES256' | 'EdDSA'): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk, spki: await exportSPKI(publicKey) };
}

/** A local identity provider: serves /jwks.json from `keys` and counts the fetches. */
class LocalIdp {
  keys: Key[] = [];
  fetches = 0;
  private server: Server | undefined;
  url = '';
  readonly issuer = 'https://idp.example/';
  readonly audience = 'chat-api';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      if (req.url !== '/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      this.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server?.close(() => resolve()));
  }

  sign(
    key: Key,
    claims: Record<string, unknown> = {},
    opts: { expiresIn?: string | number; iss?: string; aud?: string } = {},
  ): Promise<string> {
    return new SignJWT({ name: 'Ada', ...claims })
      .setProtectedHeader({ alg: key.alg, kid: key.kid })
      .setSubject(String(claims.sub ?? 'user-ada'))
      .setIssuer(opts.iss ?? this.issuer)
      .setAudience(opts.aud ?? this.audience)
      .setIssuedAt()
      .setExpirationTime(opts.expiresIn ?? '5m')
      .sign(key.privateKey);
  }
}

/** HS256 with the provider's public key as the HMAC secret: the classic algorithm confusion. */
function hs256WithPublicKey(key: Key, issuer: string, audience: string): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'HS256', typ: 'JWT', kid: key.kid });
  const body = b64({ sub: 'user-ada', name: 'Ada', iss: issuer, aud: audience, iat: now, exp: now + 300 });
  const sig = createHmac('sha256', key.spki).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

const upgrade = (srv: RunningApp, token: string) =>
  new TestClient(srv.wsUrl, token).opened.then(
    () => 'opened',
    (err: Error) => err.message,
  );

describe('identity-provider tokens through JWKS', () => {
  const idp = new LocalIdp();
  let srv: RunningApp;
  let k1: Key;
  beforeAll(async () => {
    await idp.start();
    k1 = await makeKey('k1', 'RS256');
    idp.keys = [k1];
    srv = await startApp({
      AUTH_JWKS_URL: idp.url,
      AUTH_JWKS_ISSUER: idp.issuer,
      AUTH_JWKS_AUDIENCE: idp.audience,
      AUTH_JWKS_COOLDOWN_MS: '0',
      AUTH_CLOCK_SKEW_S: '5',
    });
  });
  afterAll(async () => {
    await srv.close();
    await idp.stop();
  });

  it('accepts a token of the provider: sub is the user id, name the display name', async () => {
    const c = await TestClient.connect(srv.wsUrl, await idp.sign(k1, { sub: 'user-ada', name: 'Ada L.' }));
    const welcome = await c.next('welcome');
    expect(welcome.user).toEqual({ id: 'user-ada', name: 'Ada L.' });
    expect(welcome.expiresInMs).toBeGreaterThan(200_000);
    expect(welcome.expiresInMs).toBeLessThanOrEqual(300_000);
    await c.close();
  });

  it('accepts ES256 and EdDSA keys too', async () => {
    const es = await makeKey('es1', 'ES256');
    const ed = await makeKey('ed1', 'EdDSA');
    idp.keys = [k1, es, ed];
    for (const key of [es, ed]) {
      const c = await TestClient.connect(srv.wsUrl, await idp.sign(key, { sub: `user-${key.kid}` }));
      expect((await c.next('welcome')).user.id).toBe(`user-${key.kid}`);
      await c.close();
    }
  });

  it('picks up a rotated key without a restart, and drops a retired one', async () => {
    const k2 = await makeKey('k2', 'RS256');
    const before = idp.fetches;
    // The provider publishes k2 and retires k1; a token signed with k2 has an unknown kid.
    idp.keys = [k2];
    const c = await TestClient.connect(srv.wsUrl, await idp.sign(k2, { sub: 'user-rotated' }));
    expect((await c.next('welcome')).user.id).toBe('user-rotated');
    expect(idp.fetches).toBeGreaterThan(before);
    await c.close();
    // k1 is gone from the set: its tokens are refused once the set was fetched again.
    expect(await upgrade(srv, await idp.sign(k1))).toBe('HTTP 401');
    idp.keys = [k1, k2];
  });

  it('refuses an unknown kid, a wrong issuer or audience, and an expired token', async () => {
    const stranger = await makeKey('nobody', 'RS256');
    expect(await upgrade(srv, await idp.sign(stranger))).toBe('HTTP 401');
    expect(await upgrade(srv, await idp.sign(k1, {}, { iss: 'https://evil.example/' }))).toBe('HTTP 401');
    expect(await upgrade(srv, await idp.sign(k1, {}, { aud: 'another-app' }))).toBe('HTTP 401');
    // Expired beyond the tolerated skew (5 s).
    const expired = await idp.sign(k1, {}, { expiresIn: Math.floor(Date.now() / 1000) - 30 });
    expect(await upgrade(srv, expired)).toBe('HTTP 401');
    // A self-signed key with the kid of a real one: the signature does not verify.
    const impostor = await makeKey('k1', 'RS256');
    expect(await upgrade(srv, await idp.sign(impostor))).toBe('HTTP 401');
  });

  it('refuses HS256 signed with the public key as the secret (algorithm confusion)', async () => {
    expect(await upgrade(srv, hs256WithPublicKey(k1, idp.issuer, idp.audience))).toBe('HTTP 401');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(
      JSON.stringify({ sub: 'x', name: 'x', exp: 9e9, iss: idp.issuer, aud: idp.audience }),
    ).toString('base64url')}.`;
    expect(await upgrade(srv, none)).toBe('HTTP 401');
  });

  it('keeps accepting its own HS256 tokens beside the provider', async () => {
    expect(await upgrade(srv, srv.token('demo'))).toBe('opened');
  });
});

describe('in-band token refresh', () => {
  const idp = new LocalIdp();
  let srv: RunningApp;
  let key: Key;
  beforeAll(async () => {
    await idp.start();
    key = await makeKey('r1', 'ES256');
    idp.keys = [key];
    srv = await startApp({
      AUTH_JWKS_URL: idp.url,
      AUTH_JWKS_ISSUER: idp.issuer,
      AUTH_JWKS_AUDIENCE: idp.audience,
      AUTH_CLOCK_SKEW_S: '0',
      HEARTBEAT_MS: '200',
    });
  });
  afterAll(async () => {
    await srv.close();
    await idp.stop();
  });

  const shortLived = (seconds: number, sub = 'user-r') =>
    idp.sign(key, { sub }, { expiresIn: Math.floor(Date.now() / 1000) + seconds });

  it('keeps a socket that refreshes open past its first token, and closes one that does not (4401)', async () => {
    const refresher = await TestClient.connect(srv.wsUrl, await shortLived(2));
    const idle = await TestClient.connect(srv.wsUrl, await shortLived(2, 'user-idle'));
    const firstExpiry = Date.now() + 2000;
    refresher.send({ type: 'refresh', token: await shortLived(30) });
    const refreshed = await refresher.next('refreshed');
    expect(refreshed.expiresInMs).toBeGreaterThan(20_000);
    // The socket that did not refresh is closed 4401 once its token expired ...
    const closed = await idle.closed;
    expect(closed.code).toBe(4401);
    expect(Date.now()).toBeGreaterThanOrEqual(firstExpiry - 1000);
    // ... while the refreshed one, past the first token's expiry, still chats.
    await expect.poll(() => Date.now() > firstExpiry + 500, { timeout: 5000, interval: 100 }).toBe(true);
    await refresher.join('still-open');
    await refresher.say('still-open', 'after my first token expired');
    expect(refresher.ws.readyState).toBe(refresher.ws.OPEN);
    await refresher.close();
  });

  it("refuses a refresh with someone else's token or a bad one, keeping the old expiry", async () => {
    const c = await TestClient.connect(srv.wsUrl, await shortLived(60, 'user-a'));
    c.send({ type: 'refresh', token: await shortLived(600, 'user-b') });
    expect(await c.next('error')).toMatchObject({ code: 'bad_token' });
    c.send({ type: 'refresh', token: 'not.a.token' });
    expect(
      (await c.next('error', (e) => e.message.includes('algorithm') || e.message.includes('invalid'))).code,
    ).toBe('bad_token');
    expect(c.frames.some((f) => f.type === 'refreshed')).toBe(false);
    await c.close();
  });
});
