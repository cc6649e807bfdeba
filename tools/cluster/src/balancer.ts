import { EventEmitter } from 'node:events';
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createProxyServer } from 'http-proxy-3';

/** One endpoint the balancer may route to. Pods implement it; tests can pass plain objects. */
export interface Backend {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** WebSocket connections open (or opening) through the balancer; the balancer maintains it. */
  connections: number;
}

export interface BalancerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The endpoints right now: only ready, routable backends (like a Service's ready endpoints). */
  backends: () => readonly Backend[];
  /** Tries per upgrade (first try included) on 503 / connect failure, each on another backend. */
  upgradeAttempts?: number;
  /** Handler for `/__cluster/*` (loopback clients only); absent = 404. */
  control?: (req: IncomingMessage, res: ServerResponse) => void;
}

export type UpgradeFailure = 'status' | 'connect';

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

interface Tunnel {
  backend: Backend;
  client: Socket;
  upstream: Socket;
}

const HOP_BY_HOP = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port']);

/**
 * The load balancer in front of the pods, shaped like an Istio ingress + VirtualService:
 * plain HTTP goes round-robin to a ready pod (http-proxy-3); a WebSocket upgrade goes to the
 * ready pod with the fewest connections (ties round-robin) and, when that pod answers 503 or
 * refuses the connection, is retried on another pod before the client sees anything.
 */
export class Balancer extends EventEmitter<BalancerEvents> {
  readonly stats = { upgrades: 0, retries: 0, refused: 0, web: 0 };
  private readonly server: Server;
  private readonly proxy = createProxyServer({ xfwd: true, proxyTimeout: 30_000 });
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly tunnels = new Set<Tunnel>();
  private readonly pending = new Set<Socket>();
  private rr = 0;
  private readonly attempts: number;
  private _port = 0;

  constructor(private readonly opts: BalancerOptions) {
    super();
    this.attempts = Math.max(1, opts.upgradeAttempts ?? 3);
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    // http-proxy-3 emits 'error' when no callback handles it; every call passes one.
    this.proxy.on('error', () => {});
  }

  get port(): number {
    return this._port;
  }
  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.host, () => {
        this.server.off('error', reject);
        this._port = (this.server.address() as AddressInfo).port;
        resolve(this._port);
      });
    });
  }

  /** Open tunnels per backend id. */
  tunnelCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const t of this.tunnels) counts.set(t.backend.id, (counts.get(t.backend.id) ?? 0) + 1);
    return counts;
  }

  /** Stops listening and cuts every tunnel and pending upgrade. */
  async close(): Promise<void> {
    for (const t of this.tunnels) {
      t.client.destroy();
      t.upstream.destroy();
    }
    for (const s of this.pending) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }

  /** Least connections among `candidates`, ties broken round-robin. */
  pick(exclude: ReadonlySet<string> = new Set()): Backend | undefined {
    const candidates = this.opts.backends().filter((b) => !exclude.has(b.id));
    if (candidates.length === 0) return undefined;
    const least = Math.min(...candidates.map((b) => b.connections));
    const ties = candidates.filter((b) => b.connections === least);
    return ties[this.rr++ % ties.length];
  }

  // ---- plain HTTP ---------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (req.url?.startsWith('/__cluster/')) {
      if (this.opts.control && isLoopback(req.socket.remoteAddress)) this.opts.control(req, res);
      else sendJson(res, 404, { error: 'not_found' });
      return;
    }
    this.stats.web++;
    this.forward(req, res, new Set());
  }

  private forward(req: IncomingMessage, res: ServerResponse, tried: Set<string>): void {
    const candidates = this.opts.backends().filter((b) => !tried.has(b.id));
    const backend = candidates[this.rr++ % Math.max(1, candidates.length)];
    if (!backend) {
      res.setHeader('retry-after', '1');
      sendJson(res, tried.size ? 502 : 503, { error: 'no_ready_pods', message: 'no ready pod to route to' });
      return;
    }
    this.proxy.web(
      req,
      res,
      { target: { host: backend.host, port: backend.port }, agent: this.agent },
      (err: Error) => {
        const code = (err as NodeJS.ErrnoException).code ?? err.message;
        if (isConnectError(code)) this.emit('backendError', { backend: backend.id, error: code });
        tried.add(backend.id);
        // A request without a body can be replayed on another pod, as a mesh retry would.
        const replayable = (req.method === 'GET' || req.method === 'HEAD') && isConnectError(code);
        if (replayable && !res.headersSent && tried.size < this.attempts)
          return this.forward(req, res, tried);
        if (!res.headersSent) sendJson(res, 502, { error: 'bad_gateway', message: `${backend.id}: ${code}` });
        else res.destroy();
      },
    );
  }

  // ---- WebSocket upgrades ---------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, client: Socket, head: Buffer): void {
    client.on('error', () => client.destroy());
    this.pending.add(client);
    client.once('close', () => this.pending.delete(client));
    this.tryUpgrade(req, client, head, new Set(), 1, 'no ready pod');
  }

  private tryUpgrade(
    req: IncomingMessage,
    client: Socket,
    head: Buffer,
    tried: Set<string>,
    attempt: number,
    lastReason: string,
  ): void {
    if (client.destroyed) return;
    const backend = this.pick(tried);
    if (!backend) {
      this.refuse(client, 503, tried.size ? `all tried pods refused (${lastReason})` : 'no ready pod');
      return;
    }
    tried.add(backend.id);
    backend.connections++; // counts as opening, so a burst of upgrades spreads
    this.emit('route', { backend: backend.id, attempt });
    let settled = false;
    let upgraded = false;
    const release = () => {
      if (settled) return;
      settled = true;
      backend.connections--;
    };

    const upstreamReq = request({
      host: backend.host,
      port: backend.port,
      method: req.method,
      path: req.url,
      headers: forwardedHeaders(req),
      agent: false,
      setHost: false,
    });
    const onClientGone = () => upstreamReq.destroy();
    client.once('close', onClientGone);

    const retryOrRefuse = (reason: string, status: number, res?: IncomingMessage) => {
      release();
      client.off('close', onClientGone);
      if (attempt < this.attempts && this.pick(tried)) {
        this.stats.retries++;
        this.emit('retry', { backend: backend.id, attempt, reason });
        res?.resume();
        return this.tryUpgrade(req, client, head, tried, attempt + 1, reason);
      }
      if (res) return this.relay(client, res, reason);
      this.refuse(client, status, reason);
    };

    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      if (settled || upgraded) return;
      const code = err.code ?? err.message;
      this.emit('backendError', { backend: backend.id, error: code });
      retryOrRefuse(`${backend.id}: ${code}`, 502);
    });

    upstreamReq.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 502;
      if (status === 503) return retryOrRefuse(`${backend.id} answered 503`, 503, res);
      release();
      client.off('close', onClientGone);
      this.relay(client, res, `${backend.id} answered ${status}`);
    });

    upstreamReq.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
      upgraded = true;
      client.off('close', onClientGone);
      if (client.destroyed) {
        release();
        upstream.destroy();
        return;
      }
      this.pending.delete(client);
      this.stats.upgrades++;
      client.write(statusLine(res) + rawHeaders(res.rawHeaders));
      if (upstreamHead.length) client.write(upstreamHead);
      if (head.length) upstream.write(head);
      this.tunnel({ backend, client, upstream }, release);
      this.emit('upgrade', { backend: backend.id, attempt });
    });

    upstreamReq.end();
  }

  private tunnel(t: Tunnel, release: () => void): void {
    const { client, upstream } = t;
    this.tunnels.add(t);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      s.setTimeout(0);
      s.setKeepAlive(true, 30_000);
    }
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.tunnels.delete(t);
      release();
      this.emit('closed', { backend: t.backend.id });
    };
    // A reset on one side is a reset on the other (a killed pod gives the client no close
    // frame, i.e. 1006). A clean end is passed on after the data before it (the close frame).
    const wire = (from: Socket, to: Socket) => {
      from.on('error', () => to.destroy());
      from.on('close', (hadError: boolean) => {
        finish();
        if (hadError) to.destroy();
        else if (!to.destroyed) {
          to.end();
          to.setTimeout(5_000, () => to.destroy());
        }
      });
    };
    wire(client, upstream);
    wire(upstream, client);
    upstream.pipe(client);
    client.pipe(upstream);
  }

  /** Passes a non-101 backend answer through to the client, then closes. */
  private relay(client: Socket, res: IncomingMessage, reason: string): void {
    const status = res.statusCode ?? 502;
    this.stats.refused++;
    this.emit('refused', { status, reason });
    if (client.destroyed) return void res.resume();
    client.write(statusLine(res) + rawHeaders(res.rawHeaders, ['connection'], 'connection: close\r\n'));
    res.pipe(client);
  }

  private refuse(client: Socket, status: number, reason: string): void {
    this.stats.refused++;
    this.emit('refused', { status, reason });
    if (client.destroyed) return;
    const body = JSON.stringify({ error: status === 503 ? 'unavailable' : 'bad_gateway', message: reason });
    client.end(
      `HTTP/1.1 ${status} ${status === 503 ? 'Service Unavailable' : 'Bad Gateway'}\r\n` +
        'content-type: application/json\r\n' +
        (status === 503 ? 'retry-after: 1\r\n' : '') +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
}

function forwardedHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
  const remote = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior ? `${prior}, ${remote}` : remote;
  headers['x-forwarded-proto'] = 'http';
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
  return headers;
}

function statusLine(res: IncomingMessage): string {
  return `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
}

/** `rawHeaders` as header lines, without the `drop` names, plus `extra` lines; ends the head. */
function rawHeaders(raw: string[], drop: string[] = [], extra = ''): string {
  let out = '';
  const skip = new Set(drop);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    if (!skip.has(name.toLowerCase())) out += `${name}: ${raw[i + 1]}\r\n`;
  }
  return `${out}${extra}\r\n`;
}

function isConnectError(code: string): boolean {
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT';
}

export function isLoopback(addr: string | undefined): boolean {
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1' || !!addr?.startsWith('127.');
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
