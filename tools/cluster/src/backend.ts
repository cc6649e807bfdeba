import type { ServerResponse } from 'node:http';

/** What the balancer, its upgrade proxy and the control API share (kept apart so none imports another in a circle). */

/** One endpoint the balancer may route to. Pods implement it; tests can pass plain objects. */
export interface Backend {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** WebSocket connections open (or opening) through the balancer; the balancer maintains it. */
  connections: number;
}

export interface BalancerEvents {
  /** An upgrade attempt was sent to `backend` (the routing decision). */
  route: [{ backend: string; attempt: number }];
  /** An upgrade reached a backend and was switched (101). */
  upgrade: [{ backend: string; attempt: number }];
  /** An upgrade attempt failed on `backend` and is retried on another one. */
  retry: [{ backend: string; attempt: number; reason: string }];
  /** The client got a non-101 answer (no backend, attempts exhausted, or a non-retryable status). */
  refused: [{ status: number; reason: string }];
  /** A proxied WebSocket ended. */
  closed: [{ backend: string }];
  /** A backend could not be reached (connection refused/reset before any answer). */
  backendError: [{ backend: string; error: string }];
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
