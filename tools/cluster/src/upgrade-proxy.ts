import type { EventEmitter } from 'node:events';
import { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, request } from 'node:http';
import type { Socket } from 'node:net';
import type { Backend, BalancerEvents } from './backend.js';

export interface UpgradeProxyOptions {
  /** Least-connections choice among the backends not yet tried for this upgrade. */
  pick: (exclude: ReadonlySet<string>) => Backend | undefined;
  /** Tries per upgrade, the first included. */
  attempts: number;
  /** The balancer's counters, shared so `stats` stays one object. */
  stats: { upgrades: number; retries: number; refused: number };
  events: EventEmitter<BalancerEvents>;
}

interface Tunnel {
  backend: Backend;
  client: Socket;
  upstream: Socket;
}

const HOP_BY_HOP = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port']);

/**
 * WebSocket upgrades, proxied by hand rather than by http-proxy-3: a 503 or a refused
 * connection from a draining pod has to be retried on another pod before the client sees any
 * byte, as the Istio VirtualService retry does, and a pod's connection count has to include
 * upgrades still opening so a burst spreads.
 */
export class UpgradeProxy {
  private readonly tunnels = new Set<Tunnel>();
  private readonly pending = new Set<Socket>();

  constructor(private readonly opts: UpgradeProxyOptions) {}

  handle(req: IncomingMessage, client: Socket, head: Buffer): void {
    client.on('error', () => client.destroy());
    this.pending.add(client);
    client.once('close', () => this.pending.delete(client));
    this.tryUpgrade(req, client, head, new Set(), 1, 'no ready pod');
  }

  tunnelCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const t of this.tunnels) counts.set(t.backend.id, (counts.get(t.backend.id) ?? 0) + 1);
    return counts;
  }

  /** Cuts every tunnel and pending upgrade; server.close() would otherwise wait for them. */
  destroyAll(): void {
    for (const t of this.tunnels) {
      t.client.destroy();
      t.upstream.destroy();
    }
    for (const s of this.pending) s.destroy();
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
    const { events, stats } = this.opts;
    const backend = this.opts.pick(tried);
    if (!backend) {
      this.refuse(client, 503, tried.size ? `all tried pods refused (${lastReason})` : 'no ready pod');
      return;
    }
    tried.add(backend.id);
    backend.connections++; // counts as opening, so a burst of upgrades spreads
    events.emit('route', { backend: backend.id, attempt });
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
      if (attempt < this.opts.attempts && this.opts.pick(tried)) {
        stats.retries++;
        events.emit('retry', { backend: backend.id, attempt, reason });
        res?.resume();
        return this.tryUpgrade(req, client, head, tried, attempt + 1, reason);
      }
      if (res) return this.relay(client, res, reason);
      this.refuse(client, status, reason);
    };

    upstreamReq.on('error', (err: NodeJS.ErrnoException) => {
      if (settled || upgraded) return;
      const code = err.code ?? err.message;
      events.emit('backendError', { backend: backend.id, error: code });
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
      stats.upgrades++;
      client.write(statusLine(res) + rawHeaders(res.rawHeaders));
      if (upstreamHead.length) client.write(upstreamHead);
      if (head.length) upstream.write(head);
      this.tunnel({ backend, client, upstream }, release);
      events.emit('upgrade', { backend: backend.id, attempt });
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
      this.opts.events.emit('closed', { backend: t.backend.id });
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
    this.opts.stats.refused++;
    this.opts.events.emit('refused', { status, reason });
    if (client.destroyed) return void res.resume();
    client.write(statusLine(res) + rawHeaders(res.rawHeaders, ['connection'], 'connection: close\r\n'));
    res.pipe(client);
  }

  private refuse(client: Socket, status: number, reason: string): void {
    this.opts.stats.refused++;
    this.opts.events.emit('refused', { status, reason });
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
