import { MAX_NAME_CHARS, ROOM_PATTERN, TOKEN_PATH, type TokenResponse } from '@chat/protocol';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import fp from 'fastify-plugin';
import { cleanDisplayName, createTokens, type Tokens, USER_ID_PATTERN } from '../auth/tokens.js';

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens;
  }
}

const TokenRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: MAX_NAME_CHARS * 2 }),
    /** Keep the user id of an earlier dev token, so a refreshed token is the same user. */
    id: Type.Optional(Type.String({ pattern: USER_ID_PATTERN })),
    rooms: Type.Optional(Type.Array(Type.String({ pattern: ROOM_PATTERN }), { maxItems: 100 })),
  },
  { additionalProperties: false },
);
// Checked here rather than by Fastify's Ajv, which by default strips unknown keys silently.
const checkTokenRequest = TypeCompiler.Compile(TokenRequest);

/**
 * Token signing and verification. With DEV_TOKENS the server also hands out a token for any
 * display name (and, on refresh, the user id it was given before): demo authentication, to be replaced by a real identity provider that signs
 * the same claims (sub, name, optional rooms) with the shared secret.
 */
export default fp(
  async (app) => {
    const { config } = app;
    const tokens = createTokens({
      secret: config.TOKEN_SECRET,
      issuer: config.TOKEN_ISSUER,
      audience: config.TOKEN_AUDIENCE,
      ttlS: config.TOKEN_TTL_S,
    });
    if (tokens.ephemeral) {
      // Only reachable outside production (config refuses it there): expected, so not a warning.
      app.log.info('TOKEN_SECRET is not set: using a per-process secret (tokens only work on this process)');
    }
    app.decorate('tokens', tokens);

    if (config.DEV_TOKENS) {
      app.post(TOKEN_PATH, async (req, reply): Promise<TokenResponse | { error: string }> => {
        if (!checkTokenRequest.Check(req.body)) {
          const first = checkTokenRequest.Errors(req.body).First();
          reply.code(400);
          return {
            error: `invalid token request: ${first ? `${first.path || 'body'} ${first.message}` : 'bad body'}`,
          };
        }
        const name = cleanDisplayName(req.body.name);
        if (!name) {
          reply.code(400);
          return { error: `name must be 1 to ${MAX_NAME_CHARS} printable characters` };
        }
        const { rooms, id } = req.body;
        return tokens.issue(name, { ...(rooms ? { rooms } : {}), ...(id ? { userId: id } : {}) });
      });
    }
  },
  { name: 'auth', dependencies: ['config'] },
);
