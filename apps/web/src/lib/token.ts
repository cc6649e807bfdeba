import type { TokenRequest } from '@chat/client';
import { TOKEN_PATH, type TokenResponse } from '@chat/protocol';

/** A token is refreshed when less than this is left before it expires. */
export const REFRESH_MARGIN_MS = 60_000;
/**
 * A browser cannot tell a refused token (HTTP 401 on the upgrade) from a network error: both are
 * a 1006 before open. After this many such failures in a row the cached token is replaced.
 */
export const REFRESH_AFTER_FAILURES = 2;

const STORAGE_KEY = 'chat.session';

/**
 * The user ids the server issues (USER_ID_PATTERN in apps/server/src/auth/tokens.ts). Anything
 * else is not sent back: the server would refuse the whole request, and a new id beats no token.
 */
const USER_ID = /^u_[A-Za-z0-9_-]{6,40}$/;

export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface TokenRequestOptions {
  /** A user id from an earlier token: the new token is for the same user. */
  id?: string | undefined;
  signal?: AbortSignal;
}

/** POST /api/token {name, id?} → TokenResponse (the development token endpoint). */
export async function requestToken(
  name: string,
  { id, signal }: TokenRequestOptions = {},
): Promise<TokenResponse> {
  let res: Response;
  try {
    res = await fetch(TOKEN_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(id !== undefined && USER_ID.test(id) ? { name, id } : { name }),
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    throw new TokenError(`cannot reach the server (${err instanceof Error ? err.message : String(err)})`);
  }
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const detail = isRecord(body) && typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    throw new TokenError(detail, res.status);
  }
  if (!isTokenResponse(body)) throw new TokenError('unexpected answer from the token endpoint');
  return body;
}

/**
 * The signed-in user's token, kept in memory and in sessionStorage (so a reload keeps the tab
 * signed in, and nothing outlives the tab). `getToken` hands the cached token to the chat client
 * while it is fresh and asks for a new one when it is near expiry or the server refused it.
 *
 * Every refresh asks for the user id of the first token: the server would otherwise mint a new
 * user, and the tab's own messages would stop showing as its own.
 */
export class TokenSession {
  private current: TokenResponse;
  private inflight: Promise<TokenResponse> | undefined;

  constructor(
    readonly name: string,
    initial: TokenResponse,
    /** The first token's user id, kept even if a refresh came back with another. */
    readonly userId: string = initial.user.id,
  ) {
    this.current = initial;
    save(name, userId, initial);
  }

  get user(): TokenResponse['user'] {
    return this.current.user;
  }

  /** Restores the session of this tab, if any. */
  static restore(): TokenSession | undefined {
    try {
      const raw = sessionStorage.getItem(STORAGE_KEY);
      if (!raw) return undefined;
      const stored: unknown = JSON.parse(raw);
      if (!isRecord(stored) || typeof stored.name !== 'string' || !isTokenResponse(stored.token))
        return undefined;
      // Sessions stored before the id was kept: the current token's user is the best we have.
      const userId = typeof stored.userId === 'string' ? stored.userId : stored.token.user.id;
      return new TokenSession(stored.name, stored.token, userId);
    } catch {
      return undefined;
    }
  }

  static clear(): void {
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // Storage may be disabled; there is nothing to clear then.
    }
  }

  getToken = async ({ forceRefresh, failedBeforeOpen }: TokenRequest): Promise<string> => {
    const fresh = this.current.expiresAt - Date.now() > REFRESH_MARGIN_MS;
    if (!forceRefresh && fresh && failedBeforeOpen < REFRESH_AFTER_FAILURES) return this.current.token;
    this.inflight ??= requestToken(this.name, { id: this.userId }).finally(() => {
      this.inflight = undefined;
    });
    this.current = await this.inflight;
    save(this.name, this.userId, this.current);
    return this.current.token;
  };
}

function save(name: string, userId: string, token: TokenResponse): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ name, userId, token }));
  } catch {
    // Private mode or storage disabled: the session simply lives in memory only.
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isTokenResponse(value: unknown): value is TokenResponse {
  return (
    isRecord(value) &&
    typeof value.token === 'string' &&
    typeof value.expiresAt === 'number' &&
    isRecord(value.user) &&
    typeof value.user.id === 'string' &&
    typeof value.user.name === 'string'
  );
}
