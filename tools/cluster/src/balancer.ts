import { EventEmitter } from 'node:events';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { type Backend, type BalancerEvents, sendJson } from './backend.js';
import { UpgradeProxy } from './upgrade-proxy.js';

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
  private readonly upgrades: UpgradeProxy;
  /** One counter for HTTP round-robin and upgrade tie-breaks alike. */
  private rr = 0;
  private readonly attempts: number;
  private _port = 0;

  constructor(private readonly opts: BalancerOptions) {
    super();
    this.attempts = Math.max(1, opts.upgradeAttempts ?? 3);
    this.upgrades = new UpgradeProxy({
      pick: (exclude) => this.pick(exclude),
      attempts: this.attempts,
      stats: this.stats,
      events: this,
    });
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.upgrades.handle(req, socket, head),
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
    return this.upgrades.tunnelCounts();
  }

  /** Stops listening and cuts every tunnel and pending upgrade. */
  async close(): Promise<void> {
    this.upgrades.destroyAll();
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
}

function isConnectError(code: string): boolean {
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT';
}

export function isLoopback(addr: string | undefined): boolean {
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1' || !!addr?.startsWith('127.');
}
