import type { TokenRequest } from '@chat/client';
import {
  DEV_KEY_PATTERN,
  isTokenResponse,
  normalizeDisplayName,
  TOKEN_PATH,
  type TokenResponse,
} from '@chat/protocol';

/** A token is refreshed when less than this is left before it expires. */
export const REFRESH_MARGIN_MS = 60_000;
/**
 * A browser cannot tell a refused token (HTTP 401 on the upgrade) from a network error: both are
 * a 1006 before open. After this many such failures in a row the cached token is replaced.
 */
export const REFRESH_AFTER_FAILURES = 2;

const STORAGE_KEY = 'chat.session';
const KEY_STORAGE_KEY = 'chat.key';
const BROWSER_KEY = new RegExp(DEV_KEY_PATTERN);

/**
 * This browser's own random secret (localStorage, like the remembered profile). The server
 * derives the user id from it (an HMAC), so every token this browser asks for is for the same
 * user, and nobody else can ask for that user: the id is visible to everyone, the key is only
 * ever sent to the token endpoint.
 */
export function browserKey(): string {
  try {
    const stored = localStorage.getItem(KEY_STORAGE_KEY);
    if (stored && BROWSER_KEY.test(stored)) return stored;
  } catch {
    // Storage disabled: a key per page load.
  }
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  const key = btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
  try {
    localStorage.setItem(KEY_STORAGE_KEY, key);
  } catch {
    // See above.
  }
  return key;
}

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
  /** The browser secret the server derives the user id from (default: this tab's). */
  key?: string;
  signal?: AbortSignal;
}

/** POST /api/token {name, key} → TokenResponse (the development token endpoint). */
export async function requestToken(
  name: string,
  { key = browserKey(), signal }: TokenRequestOptions = {},
): Promise<TokenResponse> {
  // The same rule the server applies (@chat/protocol), so the user reads why before a round trip.
  const checked = normalizeDisplayName(name);
  if (!checked.ok) throw new TokenError(checked.reason, 400);
  let res: Response;
  try {
    res = await fetch(TOKEN_PATH, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: checked.value, key }),
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
 * Every refresh sends this tab's browser key, so the server derives the same user id again and
 * the tab's own messages keep showing as its own. The chat client also asks for a token (with
 * `forceRefresh`) shortly before the current one expires and hands it to the open socket in a
 * `refresh` frame, so a long session never has to reconnect for its token.
 */
export class TokenSession {
  private current: TokenResponse;
  private inflight: Promise<TokenResponse> | undefined;

  constructor(
    readonly name: string,
    initial: TokenResponse,
    /** The user id, the same for every token of this browser key (the server derives it). */
    readonly userId: string = initial.user.id,
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
      // Signing out forgets the identity too: the next sign-in is a new user.
      localStorage.removeItem(KEY_STORAGE_KEY);
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
