import { normalizeDisplayName, TOKEN_PATH, type TokenResponse, tokenRequestChecker } from '@chat/protocol';
import fp from 'fastify-plugin';
import { KeyedRateLimit } from '../auth/ip-rate-limit.js';
import { createJwksVerifier } from '../auth/jwks.js';
import { createTokens, type Tokens } from '../auth/tokens.js';
import { createTokenVerifier, type TokenVerifier } from '../auth/verify.js';

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens;
    /** Every token the server accepts (its own HS256, the identity provider's via JWKS). */
    verifyToken: TokenVerifier;
  }
}

// Checked with @chat/protocol's schema, which refuses unknown keys (Fastify's Ajv would strip them).
const checkTokenRequest = tokenRequestChecker();
const TOKEN_BURST = 10;

/**
 * Token verification: this server's HS256 tokens and, with AUTH_JWKS_URL, an identity
 * provider's. With DEV_TOKENS the server also hands out demo tokens for any display name at
 * POST /api/token, rate limited per client IP, with a user id it derives itself.
 */
export default fp(
  async (app) => {
    const { config } = app;
    const tokens = createTokens({
      secret: config.TOKEN_SECRET,
      issuer: config.TOKEN_ISSUER,
      audience: config.TOKEN_AUDIENCE,
      ttlS: config.TOKEN_TTL_S,
      clockSkewS: config.AUTH_CLOCK_SKEW_S,
    });
    if (tokens.ephemeral) {
      // Only reachable outside production (config refuses it there): expected, so not a warning.
      app.log.info('TOKEN_SECRET is not set: using a per-process secret (tokens only work on this process)');
    }
    const jwks = config.AUTH_JWKS_URL
      ? createJwksVerifier({
          url: config.AUTH_JWKS_URL,
          issuer: config.AUTH_JWKS_ISSUER,
          audience: config.AUTH_JWKS_AUDIENCE,
          clockSkewS: config.AUTH_CLOCK_SKEW_S,
          cooldownMs: config.AUTH_JWKS_COOLDOWN_MS,
          cacheMs: config.AUTH_JWKS_CACHE_MS,
        })
      : undefined;
    app.decorate('tokens', tokens);
    app.decorate('verifyToken', createTokenVerifier(tokens, jwks));

    if (!config.DEV_TOKENS) return;
    // Loud in production, where it is a decision; the normal case in development.
    const level = config.NODE_ENV === 'production' ? 'warn' : 'debug';
    app.log[level]('DEV_TOKENS is on: POST /api/token signs a token for any name (demo authentication)');
    const perIp = new KeyedRateLimit(config.DEV_TOKEN_RATE_PER_MIN, TOKEN_BURST);
    app.post(TOKEN_PATH, async (req, reply): Promise<TokenResponse | { error: string }> => {
      const wait = perIp.take(req.ip, Date.now());
      if (wait > 0) {
        reply.code(429).header('retry-after', String(Math.ceil(wait / 1000)));
        return { error: 'too many token requests from this address; retry later' };
      }
      if (!checkTokenRequest.Check(req.body)) {
        const first = checkTokenRequest.Errors(req.body).First();
        reply.code(400);
        return {
          error: `invalid token request: ${first ? `${first.path || 'body'} ${first.message}` : 'bad body'}`,
        };
      }
      const name = normalizeDisplayName(req.body.name);
      if (!name.ok) {
        reply.code(400);
        return { error: name.reason };
      }
      const { rooms, key } = req.body;
      return tokens.issue(name.value, {
        ...(rooms ? { rooms } : {}),
        ...(key ? { userId: tokens.devUserId(key) } : {}),
      });
    });
  },
  { name: 'auth', dependencies: ['config'] },
);
