/**
 * The HorizontalPodAutoscaler's replica calculation, as documented by Kubernetes
 * (kubernetes.io "Horizontal Pod Autoscaling", "Algorithm details" and "Configurable scaling
 * behavior") and as pkg/controller/podautoscaler computes it:
 *
 *   desired = ceil(current × currentMetricValue / target), unchanged within the tolerance (10 %);
 *   stabilization: the lowest recommendation of the scale-up window and the highest of the
 *   scale-down window bound the result; rate: the scaling policies (Pods / Percent per period,
 *   selectPolicy Max / Min / Disabled) limit the change against the replicas the last
 *   `periodSeconds` started from; then min/max replicas.
 *
 * Pure and clocked by the caller (`now` in ms), so the table tests drive it without waiting.
 */

export type PolicyType = 'Pods' | 'Percent';
export type SelectPolicy = 'Max' | 'Min' | 'Disabled';

export interface ScalingPolicy {
  type: PolicyType;
  value: number;
  periodSeconds: number;
}

export interface ScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: SelectPolicy;
  policies?: ScalingPolicy[];
  /** Per-direction tolerance (HPAConfigurableTolerance); default the controller's 0.1. */
  tolerance?: number;
}

export interface Behavior {
  scaleUp?: ScalingRules;
  scaleDown?: ScalingRules;
}

/** What the autoscaler needs from an HPA (or the HPA a KEDA ScaledObject makes). */
export interface HpaSpec {
  minReplicas: number;
  maxReplicas: number;
  /** AverageValue target: the metric per pod to aim for. */
  targetAverageValue: number;
  behavior?: Behavior;
}

/** The controller's default tolerance (--horizontal-pod-autoscaler-tolerance). */
export const DEFAULT_TOLERANCE = 0.1;

/** Kubernetes' defaults when `behavior` leaves a field out. */
export const DEFAULT_SCALE_UP: Required<Omit<ScalingRules, 'tolerance'>> = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [
    { type: 'Percent', value: 100, periodSeconds: 15 },
    { type: 'Pods', value: 4, periodSeconds: 15 },
  ],
};
export const DEFAULT_SCALE_DOWN: Required<Omit<ScalingRules, 'tolerance'>> = {
  stabilizationWindowSeconds: 300,
  selectPolicy: 'Max',
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
};

/**
 * A metric reading, in the two shapes the chart's two paths give the HPA:
 * - `external`: KEDA's trigger (AverageValue of an External metric): one total, divided by
 *   the current replica count;
 * - `pods`: prometheus-adapter's Pods metric: one value per pod (a pod without a value is
 *   "missing" and handled as the controller does).
 */
export type MetricReading =
  | { kind: 'external'; total: number }
  | { kind: 'pods'; values: ReadonlyMap<string, number>; pods: readonly string[] };

export interface Recommendation {
  /** Replicas to scale to (may equal current). */
  desired: number;
  /** From the metric alone, before stabilization and rate limits. */
  raw: number;
  /** The metric's ratio to the target (1 = on target). */
  ratio: number;
  /** Why `desired` differs from `raw`, when it does. */
  limitedBy?: 'tolerance' | 'stabilization' | 'policy' | 'min' | 'max';
}

/** Replicas the metric alone asks for (the "desiredReplicas" formula with tolerance). */
export function metricReplicas(
  current: number,
  reading: MetricReading,
  target: number,
  tolerance: { up: number; down: number } = { up: DEFAULT_TOLERANCE, down: DEFAULT_TOLERANCE },
): { replicas: number; ratio: number } {
  const within = (ratio: number) => (ratio >= 1 ? ratio - 1 <= tolerance.up : 1 - ratio <= tolerance.down);
  if (reading.kind === 'external') {
    const ratio = current > 0 ? reading.total / (target * current) : Number.POSITIVE_INFINITY;
    if (within(ratio)) return { replicas: current, ratio };
    return { replicas: Math.ceil(reading.total / target), ratio };
  }
  const have = reading.pods.filter((p) => reading.values.has(p));
  const missing = reading.pods.length - have.length;
  if (have.length === 0) return { replicas: current, ratio: 1 };
  const sum = have.reduce((s, p) => s + (reading.values.get(p) ?? 0), 0);
  const ratio = sum / have.length / target;
  if (missing === 0) {
    if (within(ratio)) return { replicas: current, ratio };
    return { replicas: Math.ceil(ratio * have.length), ratio };
  }
  if (within(ratio)) return { replicas: current, ratio };
  // Missing pods: assume the target when scaling down, 0 when scaling up (the conservative side).
  const assumed = ratio < 1 ? sum + missing * target : sum;
  const newRatio = assumed / reading.pods.length / target;
  if (within(newRatio) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1))
    return { replicas: current, ratio: newRatio };
  const replicas = Math.ceil(newRatio * reading.pods.length);
  if ((newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current))
    return { replicas: current, ratio: newRatio };
  return { replicas, ratio: newRatio };
}

interface Stamped {
  at: number;
  value: number;
}

/**
 * One HPA's memory (recommendation history, recent scale events) and the normalisation
 * (stabilization window, policies, min/max) of each new recommendation.
 */
export class HpaAlgorithm {
  private readonly up: Required<ScalingRules>;
  private readonly down: Required<ScalingRules>;
  private recommendations: Stamped[] | undefined;
  private upEvents: Stamped[] = [];
  private downEvents: Stamped[] = [];

  constructor(readonly spec: HpaSpec) {
    const b = spec.behavior ?? {};
    this.up = { ...DEFAULT_SCALE_UP, tolerance: DEFAULT_TOLERANCE, ...stripUndefined(b.scaleUp) };
    this.down = { ...DEFAULT_SCALE_DOWN, tolerance: DEFAULT_TOLERANCE, ...stripUndefined(b.scaleDown) };
  }

  /** One reconcile: what to scale to now, given the current replicas and the metric. */
  recommend(now: number, current: number, reading: MetricReading): Recommendation {
    const { minReplicas: min, maxReplicas: max } = this.spec;
    if (current === 0 && min > 0) return { desired: 0, raw: 0, ratio: 0 }; // scaled to 0 by hand: HPA off
    if (current > max) return { desired: max, raw: max, ratio: 1, limitedBy: 'max' };
    if (current < min) return { desired: min, raw: min, ratio: 1, limitedBy: 'min' };
    const { replicas: raw, ratio } = metricReplicas(current, reading, this.spec.targetAverageValue, {
      up: this.up.tolerance,
      down: this.down.tolerance,
    });
    const stable = this.stabilize(now, current, raw);
    const bounded = this.rateLimit(now, current, stable);
    let limitedBy: Recommendation['limitedBy'];
    if (raw === current && ratio !== 1 && bounded === current) limitedBy = 'tolerance';
    else if (stable !== raw) limitedBy = 'stabilization';
    else if (bounded !== stable) limitedBy = bounded === max ? 'max' : bounded === min ? 'min' : 'policy';
    return { desired: bounded, raw, ratio, ...(limitedBy ? { limitedBy } : {}) };
  }

  /** Records a scale the caller carried out (from `previous` to `next` replicas). */
  recordScale(now: number, previous: number, next: number): void {
    const keep = (events: Stamped[], rules: Required<ScalingRules>) => {
      const longest = Math.max(0, ...rules.policies.map((p) => p.periodSeconds)) * 1000;
      return events.filter((e) => e.at > now - longest);
    };
    if (next > previous)
      this.upEvents = [...keep(this.upEvents, this.up), { at: now, value: next - previous }];
    else if (next < previous)
      this.downEvents = [...keep(this.downEvents, this.down), { at: now, value: previous - next }];
  }

  private stabilize(now: number, current: number, desired: number): number {
    // A fresh controller seeds the history with the current count, so it never scales down at once.
    this.recommendations ??= this.down.stabilizationWindowSeconds > 0 ? [{ at: now, value: current }] : [];
    const upCutoff = now - this.up.stabilizationWindowSeconds * 1000;
    const downCutoff = now - this.down.stabilizationWindowSeconds * 1000;
    let upRec = desired;
    let downRec = desired;
    for (const r of this.recommendations) {
      if (r.at > upCutoff) upRec = Math.min(upRec, r.value);
      if (r.at > downCutoff) downRec = Math.max(downRec, r.value);
    }
    let rec = current;
    if (rec < upRec) rec = upRec;
    if (rec > downRec) rec = downRec;
    const oldest = Math.min(upCutoff, downCutoff);
    this.recommendations = [
      ...this.recommendations.filter((r) => r.at >= oldest),
      { at: now, value: desired },
    ];
    return rec;
  }

  private rateLimit(now: number, current: number, desired: number): number {
    const { minReplicas: min, maxReplicas: max } = this.spec;
    if (desired > current) {
      const limit = Math.max(current, upLimit(now, current, this.upEvents, this.up));
      return Math.min(desired, max, limit);
    }
    if (desired < current) {
      const limit = Math.min(current, downLimit(now, current, this.downEvents, this.down));
      return Math.max(desired, min, limit);
    }
    return desired;
  }
}

function changeInPeriod(now: number, periodSeconds: number, events: readonly Stamped[]): number {
  const cutoff = now - periodSeconds * 1000;
  return events.reduce((n, e) => (e.at > cutoff ? n + e.value : n), 0);
}

function upLimit(now: number, current: number, events: readonly Stamped[], rules: Required<ScalingRules>) {
  if (rules.selectPolicy === 'Disabled') return current;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  for (const p of rules.policies) {
    const start = current - changeInPeriod(now, p.periodSeconds, events);
    const proposed = p.type === 'Pods' ? start + p.value : Math.ceil(start * (1 + p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

function downLimit(now: number, current: number, events: readonly Stamped[], rules: Required<ScalingRules>) {
  if (rules.selectPolicy === 'Disabled') return current;
  // Scaling down, the biggest change (Max) is the lowest count.
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  for (const p of rules.policies) {
    const start = current + changeInPeriod(now, p.periodSeconds, events);
    const proposed = p.type === 'Pods' ? start - p.value : Math.trunc(start * (1 - p.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
