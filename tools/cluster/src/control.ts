import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './backend.js';
import { clusterPage } from './view.js';

/** What the control API drives: the Cluster, seen through only what the API needs (no import circle). */
export interface ControlledCluster {
  readonly origins: readonly string[];
  state(): unknown;
  roll(): Promise<unknown>;
  killPod(pod: string | undefined, opts: { replace?: boolean }): Promise<unknown>;
  deletePod(pod: string, opts: { replace?: boolean }): Promise<unknown>;
  scale(replicas: number): Promise<unknown>;
  stopRedis(): Promise<unknown>;
  startRedis(): Promise<unknown>;
  pauseRedis(): unknown;
  resumeRedis(): unknown;
}

/**
 * The control API on the balancer, for e2e tests and the browser demo (loopback clients only;
 * a browser request must come from the balancer's own origin):
 *
 *   GET  /__cluster/                      the cluster view (a page for people: view.ts)
 *   GET  /__cluster/state                 pods, Redis, balancer counters
 *   POST /__cluster/roll[?wait=0]         roll every pod (202 at once with wait=0)
 *   POST /__cluster/kill[?pod=ID][&replace=0|1]   kill -9 (default: the busiest pod)
 *   POST /__cluster/delete?pod=ID[&replace=1]     graceful delete of one pod
 *   POST /__cluster/scale?replicas=N
 *   POST /__cluster/redis/stop | redis/start | redis/pause | redis/resume
 *   POST /__cluster/redis/bounce[?ms=5000]        stop, wait, start
 */
export function controlHandler(
  cluster: ControlledCluster,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://cluster.local');
    const origin = req.headers.origin;
    if (origin !== undefined && !cluster.origins.includes(origin)) {
      return sendJson(res, 403, { error: 'forbidden_origin' });
    }
    const route = `${req.method} ${url.pathname.replace(/^\/__cluster/, '').replace(/\/$/, '')}`;
    const q = url.searchParams;
    const run = (work: () => Promise<unknown>, status = 200) => {
      work().then(
        (body) => sendJson(res, status, body ?? cluster.state()),
        (err: unknown) =>
          sendJson(res, 500, { error: 'failed', message: err instanceof Error ? err.message : String(err) }),
      );
    };
    // Drain the (ignored) request body so keep-alive connections stay usable.
    req.resume();
    switch (route) {
      case 'GET ': {
        const html = clusterPage();
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-length': Buffer.byteLength(html),
          'cache-control': 'no-store',
        });
        return res.end(html);
      }
      case 'GET /state':
        return sendJson(res, 200, cluster.state());
      case 'POST /roll': {
        const rolling = cluster.roll();
        if (q.get('wait') === '0') {
          rolling.catch(() => {});
          return sendJson(res, 202, { accepted: true });
        }
        return run(() => rolling);
      }
      case 'POST /kill':
        return run(() => cluster.killPod(podParam(q), replaceParam(q)));
      case 'POST /delete': {
        const pod = podParam(q);
        if (pod === undefined) return sendJson(res, 400, { error: 'pod_required' });
        return run(() => cluster.deletePod(pod, replaceParam(q)));
      }
      case 'POST /scale': {
        const n = Number(q.get('replicas'));
        if (!Number.isInteger(n) || n < 0 || n > 50)
          return sendJson(res, 400, { error: 'replicas must be 0..50' });
        return run(() => cluster.scale(n));
      }
      case 'POST /redis/stop':
        return run(() => cluster.stopRedis());
      case 'POST /redis/start':
        return run(() => cluster.startRedis());
      case 'POST /redis/pause':
        return run(async () => cluster.pauseRedis());
      case 'POST /redis/resume':
        return run(async () => cluster.resumeRedis());
      case 'POST /redis/bounce': {
        const ms = Number(q.get('ms') ?? 5000);
        return run(() => bounceRedis(cluster, Number.isFinite(ms) ? ms : 5000));
      }
      default:
        return sendJson(res, 404, { error: 'not_found', route });
    }
  };
}

/** Stops Redis, waits `ms`, starts it again. */
export async function bounceRedis(cluster: ControlledCluster, ms: number): Promise<void> {
  await cluster.stopRedis();
  await new Promise((r) => setTimeout(r, ms));
  await cluster.startRedis();
}

function podParam(q: URLSearchParams): string | undefined {
  return q.get('pod') ?? undefined;
}

function replaceParam(q: URLSearchParams): { replace?: boolean } {
  const r = q.get('replace');
  return r === null ? {} : { replace: r === '1' || r === 'true' };
}
