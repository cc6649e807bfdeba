import { normalizeDisplayName } from '@chat/protocol';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { VerifyResult } from './tokens.js';

export interface JwksSettings {
  url: string;
  issuer: string;
  audience: string;
  clockSkewS: number;
  /** Least time between two fetches of the key set (an unknown kid waits for it). */
  cooldownMs: number;
  /** Keys older than this are fetched again before use. */
  cacheMs: number;
}

/** Asymmetric algorithms only: an HS* token can never be checked against a public key. */
export const JWKS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/**
 * Verifies tokens of an identity provider against its JWKS (jose's remote key set: keys are
 * cached, a token with an unknown `kid` triggers a refetch at most once per cooldown, so a
 * rotation is picked up without a restart). `sub` becomes the user id, `name` or
 * `preferred_username` (the first that passes the display-name rule) the display name.
 */
export function createJwksVerifier(settings: JwksSettings): (token: string) => Promise<VerifyResult> {
  const keys = createRemoteJWKSet(new URL(settings.url), {
    cooldownDuration: settings.cooldownMs,
    cacheMaxAge: settings.cacheMs,
    timeoutDuration: 5000,
  });
  return async (token) => {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: settings.issuer,
        audience: settings.audience,
        algorithms: JWKS_ALGORITHMS,
        clockTolerance: settings.clockSkewS,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      return { ok: false, reason: describe(err) };
    }
    const sub = payload.sub;
    if (typeof sub !== 'string' || sub.length < 1 || sub.length > 128) {
      return { ok: false, reason: 'token claims invalid' };
    }
    const name = [payload.name, payload.preferred_username, sub]
      .filter((v): v is string => typeof v === 'string')
      .map(normalizeDisplayName)
      .find((r) => r.ok);
    if (!name?.ok) return { ok: false, reason: 'token has no usable display name' };
    const exp = payload.exp as number;
    return {
      ok: true,
      value: { user: { id: sub, name: name.value }, rooms: undefined, expiresAt: exp * 1000 },
    };
  };
}

function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `token claim ${err.claim} not accepted`;
  if (err instanceof errors.JWKSNoMatchingKey) return 'token key (kid) unknown';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not accepted';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'token signature invalid';
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JOSEError) {
    return err.code === 'ERR_JWKS_TIMEOUT' ? 'identity provider keys unavailable' : 'token invalid';
  }
  return 'token invalid';
}
