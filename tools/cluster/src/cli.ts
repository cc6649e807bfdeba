import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderDemo, startDemo } from './autoscale-demo.js';
import { type Cluster, startCluster } from './cluster.js';
import { bounceRedis } from './control.js';
import { DEFAULT_SERVER_ENTRY } from './options.js';
import { REDIS_MODES } from './redis-tier.js';

const HELP = `Usage: pnpm cluster [options]

Starts a private Redis, N chat server processes ("pods") and a load balancer in front of
them, and lets you roll, kill and break them like a Kubernetes Deployment. Run \`pnpm build\`
first (it is run for you when apps/server/dist is missing).

Options:
  -p, --port <n>         load balancer port (default 8080; 0 = any free port)
  -n, --pods <n>         replicas (default 3)
      --pre-stop-ms <n>  pause between endpoint removal and SIGTERM during a roll (default 200)
      --log-level <lvl>  pods' LOG_LEVEL (default warn); logs go to files, path printed
  -e, --env KEY=VALUE    extra server setting for every pod (repeatable), e.g. -e DRAIN_WINDOW_MS=5000
      --no-replace       do not start a replacement when a pod is killed
      --keep             keep the temp dir (logs, Redis data) after quitting
      --redis <mode>     single (default), sentinel (primary + 2 replicas + 3 Sentinels) or
                         cluster (Redis Cluster, 3 primaries + 3 replicas, sharded pub/sub);
                         "stop Redis" then stops the first primary: a failover to watch
      --autoscale        Prometheus + the chart's KEDA query and behavior driving a local HPA,
                         rebalancing on; keys + / - add or remove 50 clients
      --target <n>       with --autoscale: connections per pod to aim for (default 50)
  -h, --help             this help

Keys: r roll all pods · k kill -9 the busiest pod · s stop Redis for 5 s · p pod table · q quit
Signals: SIGUSR2 rolls; SIGINT/SIGTERM quit cleanly.
Cluster view (a page): GET /__cluster/ on the balancer.
Control API (loopback): GET /__cluster/state, POST /__cluster/roll, /__cluster/kill[?pod=ID],
  /__cluster/redis/stop, /__cluster/redis/start, /__cluster/redis/bounce?ms=5000, /__cluster/scale?replicas=N
`;

const KEYS = 'keys: [r] roll  [k] kill -9 a pod  [s] stop Redis 5 s  [p] pods  [q] quit';

function parse() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', short: 'p', default: '8080' },
      pods: { type: 'string', short: 'n', default: '3' },
      'pre-stop-ms': { type: 'string', default: '200' },
      'log-level': { type: 'string', default: 'warn' },
      env: { type: 'string', short: 'e', multiple: true, default: [] },
      'no-replace': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      autoscale: { type: 'boolean', default: false },
      target: { type: 'string', default: '50' },
      redis: { type: 'string', default: 'single' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const int = (name: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer in [${min}, ${max}]`);
    return n;
  };
  const env: Record<string, string> = {};
  for (const kv of values.env) {
    const eq = kv.indexOf('=');
    if (eq <= 0) fail(`--env expects KEY=VALUE, got ${JSON.stringify(kv)}`);
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const redis = REDIS_MODES.find((m) => m === values.redis);
  if (!redis) fail(`--redis must be one of ${REDIS_MODES.join(', ')}`);
  return {
    redis,
    port: int('port', values.port, 0, 65535),
    pods: int('pods', values.pods, 1, 50),
    preStopMs: int('pre-stop-ms', values['pre-stop-ms'], 0, 600_000),
    logLevel: values['log-level'],
    env,
    replaceKilled: !values['no-replace'],
    keepDir: values.keep,
    autoscale: values.autoscale,
    target: int('target', values.target, 1, 100_000),
  };
}

function fail(message: string): never {
  process.stderr.write(`cluster: ${message}\n`);
  process.exit(2);
}

const time = () => new Date().toISOString().slice(11, 23);
const log = (line: string) => process.stdout.write(`${time()}  ${line}\n`);

function ensureBuilt(): void {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  if (!existsSync(DEFAULT_SERVER_ENTRY)) {
    log('apps/server/dist/server.js is missing: running `pnpm build` first');
    const r = spawnSync('pnpm', ['build'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(DEFAULT_SERVER_ENTRY)) fail('`pnpm build` failed; fix it and retry');
  }
  if (!existsSync(fileURLToPath(new URL('../../../apps/web/dist/index.html', import.meta.url)))) {
    log('note: apps/web/dist is missing, so the pods serve no chat UI; run `pnpm build` for it');
  }
}

function table(cluster: Cluster): string {
  const rows = cluster
    .pods()
    .map((p) => [
      p.id,
      String(p.pid ?? '-'),
      String(p.port),
      p.phase,
      p.ready ? 'yes' : 'no',
      p.routable ? 'yes' : 'no',
      String(p.connections),
    ]);
  const head = ['POD', 'PID', 'PORT', 'PHASE', 'READY', 'ROUTABLE', 'CONNS'];
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => `  ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`;
  const r = cluster.redis;
  const tier = cluster.redisTier.mode === 'single' ? 'redis' : `${cluster.redisTier.mode} node`;
  return [...all.map(fmt), `  ${tier} 127.0.0.1:${r.port} pid ${r.pid ?? '-'} ${r.state}`].join('\n');
}

function watch(cluster: Cluster): void {
  cluster.on('pod:start', (p) => log(`${p.id} starting on port ${p.port} (pid ${p.pid})`));
  cluster.on('pod:ready', (p) => log(`${p.id} ready`));
  cluster.on('pod:unready', (p) => log(`${p.id} not ready`));
  cluster.on('pod:unroutable', (p) =>
    log(`${p.id} removed from the load balancer (${p.connections} connections)`),
  );
  cluster.on('pod:exit', (e) =>
    log(
      `${e.id} exited: ${e.signal ? `signal ${e.signal}` : `code ${e.code}`}${e.drainMs === undefined ? '' : ` after ${e.drainMs} ms`}`,
    ),
  );
  cluster.on('roll:start', ({ pods }) => log(`rolling ${pods.length} pods: ${pods.join(', ')}`));
  cluster.on('roll:step', (s) =>
    log(`roll ${s.step}/${s.total}: ${s.old} -> ${s.new} (exit ${s.exit.code})`),
  );
  cluster.on('roll:done', (r) => log(`roll done in ${r.durationMs} ms`));
  cluster.on('redis:stop', () => log('redis stopped'));
  cluster.on('redis:start', () => log('redis started'));
  cluster.on('lb:retry', (r) => log(`load balancer retried an upgrade: ${r.reason}`));
}

async function main(): Promise<void> {
  const args = parse();
  ensureBuilt();
  let cluster: Cluster;
  let rendered: ReturnType<typeof renderDemo> | undefined;
  try {
    if (args.autoscale) {
      rendered = renderDemo({
        target: args.target,
        minReplicas: args.pods,
        maxReplicas: Math.max(args.pods, 10),
      });
      log(
        `rendered the chart with KEDA on: ${Object.keys(rendered.values).length} --set values (demo periods)`,
      );
    }
    cluster = await startCluster({
      ...args,
      ...rendered?.cluster,
      env: { ...rendered?.cluster.env, ...args.env },
    });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    fail(msg.includes('EADDRINUSE') ? `port ${args.port} is in use; pass --port <n>` : msg);
  }
  watch(cluster);
  const demo = rendered && startDemo(cluster, rendered, log);

  const act = (what: string, work: () => Promise<unknown>) => {
    work().catch((err: unknown) =>
      log(`${what} failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  };
  let quitting = false;
  const quit = () => {
    if (quitting) {
      log('forced quit');
      process.exit(1); // the exit hook SIGKILLs every child
    }
    quitting = true;
    log('stopping: draining pods, then Redis');
    (demo ? demo.stop() : Promise.resolve())
      .then(() => cluster.stop({ graceful: true }))
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };

  const onKey = (key: string) => {
    switch (key) {
      case 'r':
        return act('roll', () => cluster.roll());
      case 'k':
        return act('kill', async () => {
          const { exit, replacement } = await cluster.killPod();
          log(`killed ${exit.id}${replacement ? `; replacement ${replacement.id} ready` : ''}`);
        });
      case 's':
        return act('redis bounce', () => bounceRedis(cluster, 5000));
      case 'p':
        return void process.stdout.write(`${table(cluster)}\n`);
      case '+':
        return demo ? act('add load', () => demo.grow(50)) : undefined;
      case '-':
        return demo?.shrink(50);
      case 'q':
      case '\u0003': // Ctrl-C in raw mode
      case '\u0004':
        return quit();
      case '\r':
      case '\n':
        return;
      default:
        return void process.stdout.write(`${KEYS}\n`);
    }
  };

  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  process.on('SIGHUP', quit);
  process.on('SIGUSR2', () => act('roll', () => cluster.roll()));
  if (process.stdin.isTTY) {
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      for (const key of chunk) onKey(key.toLowerCase());
    });
  }

  process.stdout.write(
    `\n  Chat cluster: ${cluster.pods().length} pods behind ${cluster.url}  (open it in a browser)\n` +
      `  ${cluster.redisTier.describe()} · pod logs in ${cluster.logDir}\n` +
      `  cluster view: ${cluster.url}/__cluster/  (pods, connections, Redis; buttons to roll, kill, stop Redis, scale)\n` +
      `  control API: curl ${cluster.url}/__cluster/state · curl -X POST ${cluster.url}/__cluster/roll\n` +
      `  ${process.stdin.isTTY ? KEYS : `no TTY: kill -USR2 ${process.pid} rolls, SIGINT quits`}\n\n`,
  );
  process.stdout.write(`${table(cluster)}\n\n`);
  if (demo) process.stdout.write(`${demo.describe()}\n`);
}

void main();
