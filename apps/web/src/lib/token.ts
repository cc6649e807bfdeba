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

export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** POST /api/token {name} → TokenResponse (the development token endpoint). */
export async function requestToken(name: string, signal?: AbortSignal): Promise<TokenResponse> {
  let res: Response;
  try {
    res = await fetch(TOKEN_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
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
 */
export class TokenSession {
  private current: TokenResponse;
  private inflight: Promise<TokenResponse> | undefined;

  constructor(
    readonly name: string,
    initial: TokenResponse,
  ) {
    this.current = initial;
    save(name, initial);
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
      return new TokenSession(stored.name, stored.token);
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
    this.inflight ??= requestToken(this.name).finally(() => {
      this.inflight = undefined;
    });
    this.current = await this.inflight;
    save(this.name, this.current);
    return this.current.token;
  };
}

function save(name: string, token: TokenResponse): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ name, token }));
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
