import { type Static, Type } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { MAX_NAME_CHARS, ROOM_PATTERN } from './frames.js';

/**
 * The token contract: what `POST /api/token` (the development token endpoint) takes and
 * answers, the shape of user ids, and the issuer/audience a server expects by default. The
 * server validates requests with these schemas; the web app and the test kit check answers.
 */

/** `iss` of the server's own tokens unless TOKEN_ISSUER says otherwise. */
export const DEFAULT_TOKEN_ISSUER = 'realtime-chat';
/** `aud` of the server's own tokens unless TOKEN_AUDIENCE says otherwise. */
export const DEFAULT_TOKEN_AUDIENCE = 'chat';

/** A browser's own random secret (>= 128 bits, base64url): dev user ids are derived from it. */
export const DEV_KEY_PATTERN = '^[A-Za-z0-9_-]{22,128}$';
/** Every user id the server derives for dev tokens: `u_` + 22 base64url characters (132 bits). */
export const USER_ID_PATTERN = '^u_[A-Za-z0-9_-]{22}$';
/** Rooms a dev token may be restricted to, at most. */
export const MAX_TOKEN_ROOMS = 100;

export const TokenRequestBody = Type.Object(
  {
    /** The display name; normalized with normalizeDisplayName (4x: before NFKC). */
    name: Type.String({ minLength: 1, maxLength: MAX_NAME_CHARS * 4 }),
    /**
     * The browser's own random secret: the server derives the user id from it, so a refresh is
     * the same user and nobody can ask for someone else's id. Without it, a new user each time.
     */
    key: Type.Optional(Type.String({ pattern: DEV_KEY_PATTERN })),
    rooms: Type.Optional(Type.Array(Type.String({ pattern: ROOM_PATTERN }), { maxItems: MAX_TOKEN_ROOMS })),
  },
  { additionalProperties: false },
);
export type TokenRequestBody = Static<typeof TokenRequestBody>;

/** Response of POST /api/token. */
export const TokenResponse = Type.Object({
  token: Type.String({ minLength: 1 }),
  /** Epoch milliseconds. */
  expiresAt: Type.Number(),
  user: Type.Object({ id: Type.String(), name: Type.String() }),
});
export type TokenResponse = Static<typeof TokenResponse>;

// Compiled on first use, by the server only: TypeCompiler generates code with `new Function`,
// which a browser page under the app's CSP (no 'unsafe-eval') refuses (see codec.ts).
let requestCheck: TypeCheck<typeof TokenRequestBody> | undefined;
/** Server side: the request body's checker (refuses unknown keys). */
export function tokenRequestChecker(): TypeCheck<typeof TokenRequestBody> {
  requestCheck ??= TypeCompiler.Compile(TokenRequestBody);
  return requestCheck;
}

/** Client side (browsers included): an answer of the token endpoint. */
export function isTokenResponse(value: unknown): value is TokenResponse {
  return Value.Check(TokenResponse, value);
}
