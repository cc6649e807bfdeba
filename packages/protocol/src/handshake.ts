/**
 * How a client authenticates the WebSocket upgrade. Browsers cannot set headers on a WebSocket,
 * and a token in the URL ends up in access logs, so the token travels as a subprotocol:
 * `Sec-WebSocket-Protocol: chat.v1, auth.<token>`. The server answers with `chat.v1`.
 */
export const SUBPROTOCOL = 'chat.v1';
export const TOKEN_SUBPROTOCOL_PREFIX = 'auth.';
export const WS_PATH = '/ws';
export const TOKEN_PATH = '/api/token';

export function handshakeProtocols(token: string): string[] {
  return [SUBPROTOCOL, `${TOKEN_SUBPROTOCOL_PREFIX}${token}`];
}

/** Picks the token out of an offered `Sec-WebSocket-Protocol` list. */
export function tokenFromProtocols(protocols: Iterable<string>): string | undefined {
  for (const p of protocols) {
    if (p.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) return p.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  }
  return undefined;
}
