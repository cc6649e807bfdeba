import WebSocket from 'ws';
import { BenchClient, Refused } from './client-base.js';

export const CONNECT_TIMEOUT_MS = 20_000;

/**
 * What the `ws` clients (this server's, the bare loop's, Centrifugo's) share: the socket, its
 * open/close handling (a refused upgrade is a Refused error; a close fails pending joins and
 * reports to the base class) and the joins waiting for their reply. They differ only in frame
 * format and in resuming.
 */
export abstract class WsBenchClient extends BenchClient {
  protected ws: WebSocket | undefined;
  private readonly joins = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  private welcomed: (() => void) | undefined;

  /** Opens the socket; resolves on the server's welcome (`welcome()`). */
  protected open(
    url: string,
    protocols: string[],
    retryHint: (reason: string) => number | undefined,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, {
        perMessageDeflate: false,
        handshakeTimeout: CONNECT_TIMEOUT_MS,
        ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
      });
      this.ws = ws;
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      this.welcomed = () => {
        settled = true;
        resolve();
      };
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        fail(new Refused(`HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.on('error', (err) => fail(err));
      ws.on('open', () => this.opened());
      ws.on('message', (data: Buffer) => this.onFrame(data));
      ws.on('close', (code, reason) => {
        if (this.ws !== ws) return;
        fail(new Error(`closed ${code} before welcome`));
        for (const j of this.joins.values()) j.reject(new Error(`closed ${code}`));
        this.joins.clear();
        this.onClosed(code, retryHint(reason.toString()));
      });
    });
  }

  protected abstract onFrame(data: Buffer): void;

  /** The upgrade succeeded (a protocol whose server speaks first does nothing here). */
  protected opened(): void {}

  protected welcome(): void {
    this.welcomed?.();
  }

  /** Sends a join frame and resolves when `joined(room)` is called for it. */
  protected awaitJoin(room: string, frame: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.joins.set(room, { resolve, reject });
      this.ws?.send(frame);
    });
  }

  protected joined(room: string): void {
    this.joins.get(room)?.resolve();
    this.joins.delete(room);
  }

  /** Fails a waiting join, if `room` names one; true when it did. */
  protected joinRefused(room: string, code: string): boolean {
    const j = this.joins.get(room);
    if (!j) return false;
    j.reject(new Error(`join refused: ${code}`));
    this.joins.delete(room);
    return true;
  }

  protected disconnect(): void {
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== ws.CLOSED) ws.close(1000);
  }
}
