import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { Autoscaler, chartMetric } from './autoscaler.js';
import { type ChartAutoscaling, fromScaledObject } from './chart-autoscaling.js';
import type { Cluster } from './cluster.js';
import { Fleet } from './fleet.js';
import type { ClusterOptions } from './options.js';

/**
 * `pnpm cluster --autoscale`: the chart rendered with KEDA on (scripts/helm.sh), its
 * ScaledObject's query and behavior driving a local HPA over the cluster, rebalancing on, and
 * keys to add or remove load. The chart's periods are shortened for a demo (said at start).
 */

const root = fileURLToPath(new URL('../../../', import.meta.url));
const NAMESPACE = 'chat';
const RELEASE = 'demo';

export interface DemoSettings {
  target: number;
  minReplicas: number;
  maxReplicas: number;
}

/** Demo-speed values, passed to the chart as --set (the same keys an operator would set). */
function demoValues(s: DemoSettings): Record<string, string | number | boolean> {
  return {
    'auth.tokenSecret': randomBytes(24).toString('hex'),
    'autoscaling.keda.enabled': true,
    'autoscaling.minReplicas': s.minReplicas,
    'autoscaling.maxReplicas': s.maxReplicas,
    'autoscaling.targetConnectionsPerPod': s.target,
    'autoscaling.scaleUp.periodSeconds': 5,
    'autoscaling.scaleUp.stabilizationWindowSeconds': 3,
    'autoscaling.scaleDown.stabilizationWindowSeconds': 30,
    'autoscaling.scaleDown.periodSeconds': 10,
    'drain.preStopSeconds': 1,
    'drain.windowSeconds': 3,
    'drain.shutdownMarginSeconds': 2,
    'drain.graceMarginSeconds': 1,
    'server.rebalance.enabled': true,
    'server.rebalance.intervalMs': 1000,
  };
}

export interface RenderedDemo {
  chart: ChartAutoscaling;
  cluster: ClusterOptions;
  values: Record<string, string | number | boolean>;
}

/** Renders the chart and derives the cluster's options (pod names, rebalance and drain env). */
export function renderDemo(s: DemoSettings): RenderedDemo {
  const values = demoValues(s);
  const args = ['template', RELEASE, 'charts/chat', '--namespace', NAMESPACE];
  for (const [k, v] of Object.entries(values)) args.push('--set', `${k}=${String(v)}`);
  const run = spawnSync('bash', ['scripts/helm.sh', ...args], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`helm template failed:\n${run.stderr || run.error?.message}`);
  const docs = parseAllDocuments(run.stdout)
    .map(
      (d) => d.toJS() as { kind?: string; metadata?: { name: string }; data?: Record<string, string> } | null,
    )
    .filter((d): d is { kind: string; metadata: { name: string }; data?: Record<string, string> } =>
      Boolean(d?.kind && d.metadata),
    );
  const deployment = docs.find((d) => d.kind === 'Deployment');
  if (!deployment) throw new Error('the chart rendered no Deployment');
  const env = Object.fromEntries(
    docs
      .filter((d) => d.kind === 'ConfigMap' && d.data?.REBALANCE_ENABLED !== undefined)
      .flatMap((d) => Object.entries(d.data ?? {}))
      .filter(([k]) => /^(REBALANCE_|DRAIN_|SHUTDOWN_TIMEOUT_MS)/.test(k)),
  );
  const chart = fromScaledObject(docs);
  return {
    chart,
    values,
    cluster: {
      pods: chart.spec.minReplicas,
      prometheus: true,
      namespace: NAMESPACE,
      // Pod names as a Deployment makes them, so the query's pod regex matches.
      podPrefix: `${deployment.metadata.name}-7f9c8d6b5`,
      env,
      preStopMs: 1000,
    },
  };
}

/** Starts the autoscaler and returns the load keys' actions. */
export function startDemo(cluster: Cluster, demo: RenderedDemo, log: (line: string) => void) {
  const prometheus = cluster.prometheus;
  if (!prometheus) throw new Error('the demo needs the cluster started with prometheus: true');
  const autoscaler = new Autoscaler({
    spec: demo.chart.spec,
    metric: chartMetric(demo.chart, prometheus, NAMESPACE),
    target: cluster,
    syncPeriodMs: 1000,
  });
  let last = '';
  autoscaler.on('reconcile', ({ current, reading, recommendation }) => {
    const total =
      reading.kind === 'external' ? reading.total : [...reading.values.values()].reduce((a, b) => a + b, 0);
    const line = `hpa: ${total} sockets on ${current} pods (target ${demo.chart.spec.targetAverageValue}/pod, ratio ${recommendation.ratio.toFixed(2)}) -> ${recommendation.desired}${recommendation.limitedBy ? ` (${recommendation.limitedBy})` : ''}`;
    if (line !== last) log(line);
    last = line;
  });
  autoscaler.on('scale', (s) => log(`hpa: scale ${s.from} -> ${s.to}`));
  autoscaler.on('error', (err) => log(`hpa: ${err.message}`));
  autoscaler.start();
  const fleet = new Fleet(cluster.url, { rooms: ['lobby', 'random'], prefix: 'demo' });
  return {
    autoscaler,
    fleet,
    grow: async (n: number) => {
      await fleet.grow(n);
      log(`load: ${fleet.members.length} clients`);
    },
    shrink: (n: number) => {
      fleet.shrink(Math.min(n, fleet.members.length));
      log(`load: ${fleet.members.length} clients`);
    },
    describe: () => {
      const s = demo.chart.spec;
      const b = s.behavior;
      return (
        `  autoscale: chart ScaledObject query ${demo.chart.keda?.query}\n` +
        `  target ${s.targetAverageValue}/pod, ${s.minReplicas}..${s.maxReplicas} pods; scale-up window ${b?.scaleUp?.stabilizationWindowSeconds ?? 0} s, ` +
        `scale-down window ${b?.scaleDown?.stabilizationWindowSeconds} s, ${JSON.stringify(b?.scaleDown?.policies)} (demo values; the chart's defaults are slower)\n` +
        `  prometheus ${prometheus.url} · keys: [+] 50 more clients  [-] 50 fewer\n`
      );
    },
    stop: async () => {
      await autoscaler.stop();
      fleet.close();
    },
  };
}
