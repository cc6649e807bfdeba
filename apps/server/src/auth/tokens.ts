import { randomBytes, randomUUID } from 'node:crypto';
import { MAX_NAME_CHARS, type Member, normalizeDisplayName, ROOM_PATTERN } from '@chat/protocol';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { devUserId } from './dev-identity.js';

/** Claims this server issues and accepts (HS256). `rooms`, when present, limits joins. */
const Claims = Type.Object({
  sub: Type.String({ minLength: 1, maxLength: 128 }),
  name: Type.String({ minLength: 1, maxLength: MAX_NAME_CHARS }),
  rooms: Type.Optional(Type.Array(Type.String({ pattern: ROOM_PATTERN }), { maxItems: 100 })),
});
type Claims = Static<typeof Claims>;
const checkClaims = TypeCompiler.Compile(Claims);

export interface TokenSettings {
  secret: string;
  issuer: string;
  audience: string;
  ttlS: number;
  /** Tolerated clock skew on exp/nbf (default 0). */
  clockSkewS?: number;
}

export interface VerifiedUser {
  user: Member;
  rooms: ReadonlySet<string> | undefined;
  /** Epoch ms. */
  expiresAt: number;
}

export type VerifyResult = { ok: true; value: VerifiedUser } | { ok: false; reason: string };

export interface Tokens {
  /** True when the secret was generated at boot (dev only: tokens die with the process). */
  readonly ephemeral: boolean;
  issue(
    name: string,
    opts?: { rooms?: string[]; ttlS?: number; userId?: string },
  ): { token: string; expiresAt: number; user: Member };
  verify(token: string | undefined): VerifyResult;
  /** The user id of the browser holding `browserKey` (see dev-identity.ts). */
  devUserId(browserKey: string): string;
}

export function createTokens(settings: TokenSettings): Tokens {
  const ephemeral = settings.secret === '';
  const key = ephemeral ? randomBytes(32).toString('base64url') : settings.secret;
  const verifier = createVerifier({
    key,
    algorithms: ['HS256'],
    allowedAud: settings.audience,
    allowedIss: settings.issuer,
    requiredClaims: ['exp', 'sub', 'aud', 'iss'],
    clockTolerance: (settings.clockSkewS ?? 0) * 1000,
    // No verification cache: each socket verifies once, and a cache would hold a token per
    // connection in memory for no gain (HMAC-SHA256 of a short token costs microseconds).
    cache: false,
  });
  return {
    ephemeral,
    devUserId: (browserKey) => devUserId(key, browserKey),
    issue(name, opts = {}) {
      const ttlS = opts.ttlS ?? settings.ttlS;
      const sign = createSigner({
        key,
        algorithm: 'HS256',
        aud: settings.audience,
        iss: settings.issuer,
        expiresIn: ttlS * 1000,
      });
      const user = { id: opts.userId ?? devUserId(key, randomUUID()), name };
      const payload: Claims = { sub: user.id, name, ...(opts.rooms ? { rooms: opts.rooms } : {}) };
      return { token: sign(payload), expiresAt: Date.now() + ttlS * 1000, user };
    },
    verify(token) {
      if (!token) return { ok: false, reason: 'token missing' };
      let payload: unknown;
      try {
        payload = verifier(token);
      } catch (err) {
        return { ok: false, reason: err instanceof TokenError ? describe(err) : 'token invalid' };
      }
      if (!checkClaims.Check(payload)) return { ok: false, reason: 'token claims invalid' };
      const name = normalizeDisplayName(payload.name);
      if (!name.ok) return { ok: false, reason: `token name invalid: ${name.reason}` };
      const exp = (payload as { exp?: unknown }).exp;
      return {
        ok: true,
        value: {
          user: { id: payload.sub, name: name.value },
          rooms: payload.rooms ? new Set(payload.rooms) : undefined,
          expiresAt: typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY,
        },
      };
    },
  };
}

function describe(err: TokenError): string {
  switch (err.code) {
    case TokenError.codes.expired:
      return 'token expired';
    case TokenError.codes.invalidClaimValue:
      return 'token audience or issuer not accepted';
    case TokenError.codes.invalidSignature:
      return 'token signature invalid';
    default:
      return 'token invalid';
  }
}
