import type { VerifyResult } from '../auth/tokens.js';
import type { Conn } from './connection.js';
import { frame } from './frames.js';

/**
 * In-band token refresh: the socket keeps its identity and rooms and only its expiry moves.
 * The new token must be valid and for the same user id; anything else is refused with
 * `bad_token` and leaves the old expiry in place (so the socket still closes 4401 then).
 */
export async function refreshToken(
  conn: Conn,
  token: string,
  verify: (token: string) => VerifyResult | Promise<VerifyResult>,
  now: () => number = Date.now,
): Promise<void> {
  const verified = await verify(token);
  if (conn.closing) return;
  if (!verified.ok) {
    conn.error('bad_token', `refresh refused: ${verified.reason}`);
    return;
  }
  if (verified.value.user.id !== conn.user.id) {
    conn.error('bad_token', 'refresh refused: the token is for another user');
    return;
  }
  conn.extendExpiry(verified.value.expiresAt);
  conn.send(frame({ type: 'refreshed', expiresInMs: expiresIn(conn.expiresAt, now()) }));
}

/** Milliseconds left until `expiresAt`, as sent in `welcome` and `refreshed`. */
export function expiresIn(expiresAt: number, now: number): number {
  return Number.isFinite(expiresAt) ? Math.max(0, Math.round(expiresAt - now)) : 2 ** 31 - 1;
}
