import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, httpStatus, trackChild, until } from '@chat/testkit';

export interface PrometheusOptions {
  /** Config, file_sd targets, TSDB and log live here. */
  dir: string;
  /** prometheus binary (default `prometheus` on PATH; Debian: `apt-get install prometheus`). */
  bin?: string;
  /** Scrape and rule evaluation interval in seconds (default 1). */
  scrapeIntervalS?: number;
  /** Rule files to load (alerts, recording rules). */
  ruleFiles?: string[];
  /**
   * Scrape every target under this many jobs (default 1). 2 is a pod scraped twice (pod
   * annotations and a ServiceMonitor): every series exists once per job, which is what the
   * chart's `max by (pod)` queries must not double count.
   */
  jobs?: number;
  startTimeoutMs?: number;
}

/** One scrape target as Kubernetes service discovery would label it. */
export interface ScrapeTarget {
  /** host:port of the pod's metrics endpoint. */
  address: string;
  /** The pod name (the harness passes NODE_ID, as the chart does). */
  pod: string;
  namespace: string;
}

/** One sample of an instant vector. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export const PROMETHEUS_INSTALL_HINT =
  'Prometheus is not installed: `apt-get install prometheus` (Debian/Ubuntu, gives prometheus and promtool)';

/** Whether `bin` runs (`prometheus --version`). */
export function prometheusAvailable(bin = 'prometheus'): boolean {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

/**
 * A private Prometheus server: its own port, data dir and config, scraping the pods through a
 * file_sd target file that the cluster rewrites whenever a pod starts or exits. Each target
 * carries `pod` and `namespace` labels, which is what a ServiceMonitor or a pod-annotation
 * scrape gives on Kubernetes, so the chart's queries run here unchanged.
 */
export class PrometheusServer {
  readonly dir: string;
  readonly logFile: string;
  readonly targetsFile: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private _port = 0;
  private readonly bin: string;
  private readonly intervalS: number;

  constructor(private readonly opts: PrometheusOptions) {
    this.dir = opts.dir;
    this.bin = opts.bin ?? 'prometheus';
    this.intervalS = opts.scrapeIntervalS ?? 1;
    this.logFile = join(opts.dir, 'prometheus.log');
    this.targetsFile = join(opts.dir, 'targets.json');
    mkdirSync(join(opts.dir, 'data'), { recursive: true });
  }

  get port(): number {
    return this._port;
  }
  get url(): string {
    return `http://127.0.0.1:${this._port}`;
  }
  get pid(): number | undefined {
    return this.proc?.pid;
  }
  get scrapeIntervalMs(): number {
    return this.intervalS * 1000;
  }

  async start(targets: readonly ScrapeTarget[] = []): Promise<void> {
    if (this.proc) return;
    if (!prometheusAvailable(this.bin)) throw new Error(PROMETHEUS_INSTALL_HINT);
    this.setTargets(targets);
    const configFile = join(this.dir, 'prometheus.yml');
    writeFileSync(configFile, this.config());
    this._port = await freePort();
    const fd = openSync(this.logFile, 'a');
    const proc = spawn(
      this.bin,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(this.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this._port}`,
        '--storage.tsdb.retention.time=2h',
        '--log.level=warn',
      ],
      { stdio: ['ignore', fd, fd], detached: true },
    );
    closeSync(fd);
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
    });
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    this.proc = proc;
    void this.exited.then(() => {
      if (this.proc === proc) this.proc = undefined;
    });
    if (proc.pid !== undefined) trackChild(proc);
    try {
      await until(
        async () => {
          if (spawnError) throw new Error(`cannot start ${this.bin}: ${spawnError.message}`);
          if (proc.exitCode !== null)
            throw new Error(`prometheus exited with ${proc.exitCode}:\n${this.logTail()}`);
          return (await httpStatus(this._port, '/-/ready', 500)) === 200;
        },
        `prometheus on port ${this._port} ready`,
        this.opts.startTimeoutMs ?? 15_000,
      );
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
  }

  /** Rewrites the file_sd file atomically; Prometheus picks it up within about a second. */
  setTargets(targets: readonly ScrapeTarget[]): void {
    const groups = targets.map((t) => ({
      targets: [t.address],
      labels: { pod: t.pod, namespace: t.namespace },
    }));
    const tmp = `${this.targetsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(groups, null, 2));
    renameSync(tmp, this.targetsFile);
  }

  /** Runs an instant query; rejects on a PromQL error (with Prometheus' message). */
  async query(promql: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: unknown };
    };
    if (body.status !== 'success' || !body.data)
      throw new Error(`query ${JSON.stringify(promql)} failed: ${body.error ?? res.status}`);
    const { resultType, result } = body.data;
    if (resultType === 'scalar') {
      const [, v] = result as [number, string];
      return [{ metric: {}, value: Number(v) }];
    }
    if (resultType !== 'vector') throw new Error(`query returned a ${resultType}, not a vector`);
    return (result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      metric: r.metric,
      value: Number(r.value[1]),
    }));
  }

  /** Health of every scrape target (`up`, last error), from /api/v1/targets. */
  async targets(): Promise<{ pod: string; health: string; lastError: string }[]> {
    const res = await fetch(`${this.url}/api/v1/targets?state=active`);
    const body = (await res.json()) as {
      data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
    };
    return body.data.activeTargets.map((t) => ({
      pod: t.labels.pod ?? '',
      health: t.health,
      lastError: t.lastError,
    }));
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGKILL');
    await this.exited;
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private config(): string {
    const s = `${this.intervalS}s`;
    const rules = (this.opts.ruleFiles ?? []).map((f) => `  - ${JSON.stringify(f)}`).join('\n');
    return [
      'global:',
      `  scrape_interval: ${s}`,
      `  scrape_timeout: ${s}`,
      `  evaluation_interval: ${s}`,
      ...(rules ? ['rule_files:', rules] : []),
      'scrape_configs:',
      ...Array.from({ length: Math.max(1, this.opts.jobs ?? 1) }, (_, i) => [
        `  - job_name: ${i === 0 ? 'chat' : `chat-${i + 1}`}`,
        '    metrics_path: /metrics',
        '    file_sd_configs:',
        `      - files: [${JSON.stringify(this.targetsFile)}]`,
        '        refresh_interval: 1s',
      ]).flat(),
      '',
    ].join('\n');
  }
}
