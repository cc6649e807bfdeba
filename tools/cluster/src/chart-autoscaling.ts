import { parse } from 'yaml';
import type { Behavior, HpaSpec } from './hpa.js';

/**
 * What the autoscaler takes from the chart's rendered objects (never a copy of them): the
 * KEDA ScaledObject's Prometheus trigger and HPA config, the autoscaling/v2 HPA and the
 * prometheus-adapter rule. Input: parsed manifests of `helm template`.
 */

interface Doc {
  kind: string;
  metadata: { name: string };
  spec?: unknown;
  data?: Record<string, string>;
}

export interface KedaTrigger {
  query: string;
  /** AverageValue: the query's total is divided by the replica count. */
  metricType: string;
  threshold: number;
  /** KEDA's default is true: an empty result reads as 0. */
  ignoreNullValues: boolean;
}

export interface AdapterRule {
  seriesQuery: string;
  metricsQuery: string;
  /** The name the HPA asks for. */
  as: string;
}

export interface ChartAutoscaling {
  spec: HpaSpec;
  keda?: KedaTrigger;
  adapter?: AdapterRule;
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what}: expected an object`);
  return v as Record<string, unknown>;
}

function num(v: unknown, what: string): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n))
    throw new Error(`${what}: expected a number, got ${String(v)}`);
  return n;
}

/** The ScaledObject's trigger and the HPA KEDA would create from it. */
export function fromScaledObject(docs: readonly Doc[]): ChartAutoscaling {
  const so = docs.find((d) => d.kind === 'ScaledObject');
  if (!so) throw new Error('no ScaledObject rendered (set autoscaling.keda.enabled=true)');
  const spec = record(so.spec, 'ScaledObject.spec');
  const triggers = spec.triggers as unknown[];
  const prom = triggers.map((t) => record(t, 'trigger')).find((t) => t.type === 'prometheus');
  if (!prom) throw new Error('ScaledObject has no prometheus trigger');
  const meta = record(prom.metadata, 'trigger.metadata');
  const advanced = spec.advanced ? record(spec.advanced, 'advanced') : {};
  const hpaConfig = advanced.horizontalPodAutoscalerConfig
    ? record(advanced.horizontalPodAutoscalerConfig, 'horizontalPodAutoscalerConfig')
    : {};
  const threshold = num(meta.threshold, 'trigger threshold');
  return {
    spec: {
      // KEDA's defaults: minReplicaCount 0, maxReplicaCount 100.
      minReplicas: spec.minReplicaCount === undefined ? 0 : num(spec.minReplicaCount, 'minReplicaCount'),
      maxReplicas: spec.maxReplicaCount === undefined ? 100 : num(spec.maxReplicaCount, 'maxReplicaCount'),
      targetAverageValue: threshold,
      ...(hpaConfig.behavior ? { behavior: hpaConfig.behavior as Behavior } : {}),
    },
    keda: {
      query: String(meta.query),
      metricType: String(prom.metricType ?? 'AverageValue'),
      threshold,
      ignoreNullValues: String(meta.ignoreNullValues ?? 'true') !== 'false',
    },
  };
}

/** The autoscaling/v2 HPA on a Pods metric, with the adapter rule from its ConfigMap. */
export function fromHpa(docs: readonly Doc[]): ChartAutoscaling {
  const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler');
  if (!hpa) throw new Error('no HorizontalPodAutoscaler rendered (set autoscaling.hpa.enabled=true)');
  const spec = record(hpa.spec, 'HPA.spec');
  const metrics = (spec.metrics as unknown[]).map((m) => record(m, 'metric'));
  const pods = metrics.find((m) => m.type === 'Pods');
  if (!pods) throw new Error('HPA has no Pods metric');
  const p = record(pods.pods, 'metric.pods');
  const name = String(record(p.metric, 'metric.pods.metric').name);
  const target = record(p.target, 'metric.pods.target');
  return {
    spec: {
      minReplicas: spec.minReplicas === undefined ? 1 : num(spec.minReplicas, 'minReplicas'),
      maxReplicas: num(spec.maxReplicas, 'maxReplicas'),
      targetAverageValue: num(target.averageValue, 'averageValue'),
      ...(spec.behavior ? { behavior: spec.behavior as Behavior } : {}),
    },
    ...(adapterRuleFor(docs, name) ? { adapter: adapterRuleFor(docs, name) as AdapterRule } : {}),
  };
}

/** The prometheus-adapter rule serving `metric`, from any rendered ConfigMap's config.yaml. */
export function adapterRuleFor(docs: readonly Doc[], metric: string): AdapterRule | undefined {
  for (const d of docs) {
    const text = d.kind === 'ConfigMap' ? d.data?.['config.yaml'] : undefined;
    if (!text) continue;
    const config = record(parse(text), `${d.metadata.name} config.yaml`);
    for (const r of (config.rules as unknown[] | undefined) ?? []) {
      const rule = record(r, 'adapter rule');
      const name = rule.name ? record(rule.name, 'rule.name') : {};
      const as = String(name.as ?? '');
      if (as === metric || (!as && String(rule.seriesQuery).startsWith(metric)))
        return { seriesQuery: String(rule.seriesQuery), metricsQuery: String(rule.metricsQuery), as: metric };
    }
  }
  return undefined;
}

/**
 * The query prometheus-adapter sends for a Pods metric of `pods` in `namespace`: the rule's
 * metricsQuery template with `<<.Series>>`, `<<.LabelMatchers>>` and `<<.GroupBy>>` filled
 * in as the adapter fills them (the series name from seriesQuery, the namespace and pod
 * matchers, grouped by pod).
 */
export function adapterQuery(rule: AdapterRule, namespace: string, pods: readonly string[]): string {
  const series = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rule.seriesQuery)?.[0];
  if (!series) throw new Error(`cannot read the series name from ${rule.seriesQuery}`);
  const matchers = `namespace=${JSON.stringify(namespace)},pod=~${JSON.stringify(pods.map(escapeRegex).join('|'))}`;
  return rule.metricsQuery
    .replaceAll('<<.Series>>', series)
    .replaceAll('<<.LabelMatchers>>', matchers)
    .replaceAll('<<.GroupBy>>', 'pod');
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
