import type { ClientFrame } from '@chat/protocol';
import type { Settings } from './settings.js';

/** A token is refreshed when this share of its lifetime is left (at most REFRESH_MARGIN_MAX_MS). */
const REFRESH_SHARE = 0.2;
const REFRESH_MARGIN_MAX_MS = 60_000;
/** After a failed refresh (no token, or the server refused it), the next try comes this soon. */
const RETRY_MS = 5_000;

/** When to refresh a token that expires in `expiresInMs`: 20 % before, at most 60 s before. */
export function refreshDelay(expiresInMs: number): number {
  const margin = Math.min(REFRESH_MARGIN_MAX_MS, expiresInMs * REFRESH_SHARE);
  return Math.max(0, Math.floor(expiresInMs - margin));
}

/**
 * In-band token refresh of the open socket: shortly before the token expires (the server says
 * when, in `welcome` and `refreshed`), ask the app for a new token (`getToken` with
 * `forceRefresh`) and send it in a `refresh` frame, so the socket outlives its first token
 * without a reconnect. Without a new token in time the server closes the socket 4401 and the
 * reconnect asks for one, as before.
 */
export class TokenRefresh {
  private timer: unknown;
  /** Raised on every schedule and cancel: an answer for an older socket is dropped. */
  private generation = 0;
  private deadline = 0;

  constructor(
    private readonly settings: Settings,
    private readonly send: (frame: ClientFrame) => boolean,
  ) {}

  /** From `welcome` or `refreshed`: the socket's token now expires in `expiresInMs`. */
  schedule(expiresInMs: number | undefined): void {
    this.cancel();
    if (!this.settings.refreshTokens || expiresInMs === undefined) return;
    this.deadline = this.settings.now() + expiresInMs;
    this.arm(refreshDelay(expiresInMs));
  }

  /** The server refused the refreshed token: try once more before the old one expires. */
  refused(): void {
    if (this.deadline === 0) return;
    this.retry();
  }

  /** The socket is gone (or about to be): nothing is sent for it any more. */
  cancel(): void {
    this.generation++;
    this.deadline = 0;
    if (this.timer !== undefined) this.settings.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    const generation = this.generation;
    if (this.timer !== undefined) this.settings.timers.clearTimeout(this.timer);
    this.timer = this.settings.timers.setTimeout(() => {
      this.timer = undefined;
      void this.run(generation);
    }, delayMs);
  }

  private retry(): void {
    const left = this.deadline - this.settings.now();
    if (left > 50) this.arm(Math.min(RETRY_MS, Math.floor(left / 2)));
  }

  private async run(generation: number): Promise<void> {
    let token: string;
    try {
      token = await this.settings.getToken({ forceRefresh: true, attempt: 0, failedBeforeOpen: 0 });
    } catch {
      if (generation === this.generation) this.retry();
      return;
    }
    if (generation !== this.generation) return;
    if (!this.send({ type: 'refresh', token })) this.retry();
  }
}
