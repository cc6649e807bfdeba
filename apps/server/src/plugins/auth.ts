import { MAX_NAME_CHARS, ROOM_PATTERN, TOKEN_PATH, type TokenResponse } from '@chat/protocol';
import { Type } from '@sinclair/typebox';
import fp from 'fastify-plugin';
import { cleanDisplayName, createTokens, type Tokens } from '../auth/tokens.js';

declare module 'fastify' {
  interface FastifyInstance {
    tokens: Tokens;
  }
}

const TokenRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: MAX_NAME_CHARS * 2 }),
    rooms: Type.Optional(Type.Array(Type.String({ pattern: ROOM_PATTERN }), { maxItems: 100 })),
  },
  { additionalProperties: false },
);

/**
 * Token signing and verification. With DEV_TOKENS the server also hands out a token for any
 * display name: demo authentication, to be replaced by a real identity provider that signs
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
      app.log.warn('TOKEN_SECRET is not set: using a per-process secret (tokens only work on this process)');
    }
    app.decorate('tokens', tokens);

    if (config.DEV_TOKENS) {
      app.post<{ Body: { name: string; rooms?: string[] } }>(
        TOKEN_PATH,
        { schema: { body: TokenRequest } },
        async (req, reply): Promise<TokenResponse | { error: string }> => {
          const name = cleanDisplayName(req.body.name);
          if (!name) {
            reply.code(400);
            return { error: `name must be 1 to ${MAX_NAME_CHARS} printable characters` };
          }
          return tokens.issue(name, req.body.rooms ? { rooms: req.body.rooms } : {});
        },
      );
    }
  },
  { name: 'auth', dependencies: ['config'] },
);
