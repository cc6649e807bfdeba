import type { Tokens, VerifyResult } from './tokens.js';

/**
 * One entry point for every token the server accepts. The algorithm in the token's header picks
 * the verifier: HS256 goes to this server's own HMAC tokens (demo tokens, or a backend sharing
 * TOKEN_SECRET), asymmetric algorithms to the identity provider's JWKS when one is configured.
 * Each verifier also pins its own algorithms, so a token signed with HS256 using a public key
 * as the secret is checked against TOKEN_SECRET and fails.
 */
export type TokenVerifier = (token: string | undefined) => Promise<VerifyResult>;

export function createTokenVerifier(
  tokens: Tokens,
  jwks: ((token: string) => Promise<VerifyResult>) | undefined,
): TokenVerifier {
  return async (token) => {
    if (!token) return { ok: false, reason: 'token missing' };
    const alg = headerAlg(token);
    if (alg === 'HS256') return tokens.verify(token);
    if (alg && jwks && alg !== 'none' && !alg.startsWith('HS')) return jwks(token);
    return { ok: false, reason: 'token algorithm not accepted' };
  };
}

function headerAlg(token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot < 1 || dot > 2048) return undefined;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
    const alg = (header as { alg?: unknown } | null)?.alg;
    return typeof alg === 'string' ? alg : undefined;
  } catch {
    return undefined;
  }
}
