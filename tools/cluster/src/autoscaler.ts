import { EventEmitter } from 'node:events';
import { adapterQuery, type ChartAutoscaling } from './chart-autoscaling.js';
import { HpaAlgorithm, type HpaSpec, type MetricReading, type Recommendation } from './hpa.js';
import type { PrometheusServer } from './prometheus.js';

/** What the autoscaler scales: the cluster (spec.replicas and the scale subresource). */
export interface ScaleTarget {
  readonly replicas: number;
  scale(replicas: number): Promise<unknown>;
  /** Pod names, for the Pods metric's matchers (the adapter asks for the target's pods). */
  podNames(): string[];
}

export interface AutoscalerOptions {
  spec: HpaSpec;
  /** Reads the metric the HPA would get (KEDA's external metric or the adapter's Pods metric). */
  metric: (pods: string[]) => Promise<MetricReading>;
  target: ScaleTarget;
  /** The HPA controller's sync period (Kubernetes: 15 s). */
  syncPeriodMs?: number;
  now?: () => number;
}

export interface AutoscalerEvents {
  reconcile: [{ at: number; current: number; reading: MetricReading; recommendation: Recommendation }];
  scale: [{ at: number; from: number; to: number; recommendation: Recommendation }];
  error: [Error];
}

/**
 * A local HorizontalPodAutoscaler: every sync period it reads the metric, runs the documented
 * algorithm (hpa.ts) and writes the result to the target's replica count, as the controller
 * writes the scale subresource. It does not wait for pods to start or drain: the next sync
 * reads the desired count back, as the controller does.
 */
export class Autoscaler extends EventEmitter<AutoscalerEvents> {
  readonly algorithm: HpaAlgorithm;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: AutoscalerOptions) {
    super();
    this.algorithm = new HpaAlgorithm(opts.spec);
    this.now = opts.now ?? Date.now;
  }

  start(): this {
    if (this.timer) return this;
    const tick = () => {
      this.running = this.reconcile()
        .then(() => undefined)
        .catch((err: unknown) => {
          if (this.listenerCount('error') > 0)
            this.emit('error', err instanceof Error ? err : new Error(String(err)));
        })
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.opts.syncPeriodMs ?? 15_000);
        });
    };
    this.timer = setTimeout(tick, 0);
    return this;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sync: read, recommend, scale when the recommendation differs. */
  async reconcile(): Promise<Recommendation> {
    const current = this.opts.target.replicas;
    const reading = await this.opts.metric(this.opts.target.podNames());
    const at = this.now();
    const recommendation = this.algorithm.recommend(at, current, reading);
    this.emit('reconcile', { at, current, reading, recommendation });
    if (recommendation.desired !== current) {
      this.algorithm.recordScale(at, current, recommendation.desired);
      this.emit('scale', { at, from: current, to: recommendation.desired, recommendation });
      this.opts.target.scale(recommendation.desired).catch((err: unknown) => {
        if (this.listenerCount('error') > 0)
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
      });
    }
    return recommendation;
  }
}

/**
 * The metric reader for the chart's path: KEDA's trigger query (a total, divided by the
 * replicas with AverageValue) or the adapter rule's metricsQuery (one value per pod).
 */
export function chartMetric(
  chart: ChartAutoscaling,
  prometheus: Pick<PrometheusServer, 'query'>,
  namespace: string,
): (pods: string[]) => Promise<MetricReading> {
  const { keda, adapter } = chart;
  if (keda) {
    if (keda.metricType !== 'AverageValue')
      throw new Error(`KEDA metricType ${keda.metricType} is not supported`);
    return async () => {
      const samples = await prometheus.query(keda.query);
      if (samples.length === 0 && !keda.ignoreNullValues)
        throw new Error(`KEDA query returned no data (ignoreNullValues false): ${keda.query}`);
      // KEDA reads the first sample of the result.
      return { kind: 'external', total: samples[0]?.value ?? 0 };
    };
  }
  if (adapter) {
    return async (pods) => {
      const samples = await prometheus.query(adapterQuery(adapter, namespace, pods));
      const values = new Map<string, number>();
      for (const s of samples) if (s.metric.pod) values.set(s.metric.pod, s.value);
      return { kind: 'pods', values, pods };
    };
  }
  throw new Error('neither a KEDA trigger nor an adapter rule was rendered');
}
