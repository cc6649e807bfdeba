import { describe, expect, it } from 'vitest';
import { type Behavior, HpaAlgorithm, type MetricReading, metricReplicas } from '../src/hpa.js';

const ext = (total: number): MetricReading => ({ kind: 'external', total });
const pods = (values: Record<string, number>, all: string[]): MetricReading => ({
  kind: 'pods',
  values: new Map(Object.entries(values)),
  pods: all,
});

/** The chart's default behavior (values.yaml autoscaling.scaleUp / scaleDown). */
const chartBehavior: Behavior = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Percent', value: 100, periodSeconds: 30 },
      { type: 'Pods', value: 4, periodSeconds: 30 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 600,
    selectPolicy: 'Min',
    policies: [{ type: 'Pods', value: 1, periodSeconds: 120 }],
  },
};

describe('desired = ceil(current × value / target), with the 10 % tolerance', () => {
  it.each([
    // [case, current, reading, target, expected replicas]
    ['KEDA total 1000 at 200/pod on 2 pods', 2, ext(1000), 200, 5],
    ['KEDA total 420 on 2 pods: ratio 1.05, inside the tolerance', 2, ext(420), 200, 2],
    [
      'KEDA total 440 on 2 pods: |1 - 1.1| is 0.10000000000000009 in float64, so it scales (as in Go)',
      2,
      ext(440),
      200,
      3,
    ],
    ['KEDA total 436 on 2 pods: ratio 1.09 stays', 2, ext(436), 200, 2],
    ['KEDA total 445 on 2 pods: ratio 1.11 scales', 2, ext(445), 200, 3],
    ['KEDA total 300 on 5 pods: ratio 0.3 -> ceil(1.5)', 5, ext(300), 200, 2],
    ['KEDA total 0 on 3 pods', 3, ext(0), 200, 0],
    ['KEDA total 1 on 3 pods: ceil(0.005)', 3, ext(1), 200, 1],
    ['adapter per pod 500+500 on 2 pods', 2, pods({ a: 500, b: 500 }, ['a', 'b']), 200, 5],
    ['adapter 190+200 on 2 pods: inside the tolerance', 2, pods({ a: 190, b: 200 }, ['a', 'b']), 200, 2],
    [
      'adapter, 1 pod missing while scaling up: it counts as 0, ratio 1.0, stays',
      3,
      pods({ a: 300, b: 300 }, ['a', 'b', 'c']),
      200,
      3,
    ],
    [
      'adapter, 1 pod missing while scaling up: 600+600 -> ceil(3 × 2.0)',
      3,
      pods({ a: 600, b: 600 }, ['a', 'b', 'c']),
      200,
      6,
    ],
    [
      'adapter, 1 pod missing while scaling down: it counts as the target, ceil(2 × 0.625) = 2',
      2,
      pods({ a: 50 }, ['a', 'b']),
      200,
      2,
    ],
    [
      'adapter, 1 pod missing while scaling down from 4: (40×3+200)/4/200 = 0.4 -> 2',
      4,
      pods({ a: 40, b: 40, c: 40 }, ['a', 'b', 'c', 'd']),
      200,
      2,
    ],
  ] as const)('%s', (_name, current, reading, target, expected) => {
    expect(metricReplicas(current, reading, target).replicas).toBe(expected);
  });

  it('a per-direction tolerance replaces the 10 %', () => {
    expect(metricReplicas(2, ext(420), 200, { up: 0.01, down: 0.1 }).replicas).toBe(3);
    expect(metricReplicas(20, ext(1850), 100).replicas).toBe(20);
    expect(metricReplicas(20, ext(1850), 100, { up: 0.1, down: 0.05 }).replicas).toBe(19);
  });
});

/** Runs reconciles at the given seconds; each one's result becomes the current count. */
function run(
  algo: HpaAlgorithm,
  start: number,
  steps: [atS: number, reading: MetricReading][],
): { at: number; desired: number; limitedBy?: string }[] {
  let current = start;
  return steps.map(([atS, reading]) => {
    const r = algo.recommend(atS * 1000, current, reading);
    if (r.desired !== current) algo.recordScale(atS * 1000, current, r.desired);
    current = r.desired;
    return { at: atS, desired: r.desired, ...(r.limitedBy ? { limitedBy: r.limitedBy } : {}) };
  });
}

describe('behavior: stabilization windows and scaling policies (the chart defaults)', () => {
  const spec = { minReplicas: 2, maxReplicas: 20, targetAverageValue: 200, behavior: chartBehavior };

  it('scales up at once, by max(100 %, 4 pods) per 30 s period', () => {
    const steps = run(new HpaAlgorithm(spec), 2, [
      [0, ext(2000)], // wants 10; limit max(ceil(2×2), 2+4) = 6
      [15, ext(2000)], // the period started at 2 -> still 6
      [31, ext(2000)], // new period from 6: max(12, 10) -> 10
    ]);
    expect(steps).toEqual([
      { at: 0, desired: 6, limitedBy: 'policy' },
      { at: 15, desired: 6, limitedBy: 'policy' },
      { at: 31, desired: 10 },
    ]);
  });

  it('caps a scale-up at maxReplicas', () => {
    const steps = run(new HpaAlgorithm({ ...spec, maxReplicas: 5 }), 4, [[0, ext(4000)]]);
    expect(steps).toEqual([{ at: 0, desired: 5, limitedBy: 'max' }]);
  });

  it('holds a scale-down for the 600 s window, then removes 1 pod per 120 s, never below min', () => {
    const ticks: [number, MetricReading][] = [];
    for (let t = 0; t <= 1200; t += 15) ticks.push([t, ext(100)]);
    const steps = run(new HpaAlgorithm(spec), 5, ticks);
    const changes = steps.filter((s, i) => s.desired !== (steps[i - 1]?.desired ?? 5));
    expect(steps.filter((s) => s.at < 600).every((s) => s.desired === 5)).toBe(true);
    expect(changes.map((c) => [c.at, c.desired])).toEqual([
      [600, 4],
      [720, 3],
      [840, 2],
    ]);
    expect(steps.at(-1)?.desired).toBe(2);
  });

  it('a spike inside the scale-down window keeps the highest recommendation', () => {
    const steps = run(new HpaAlgorithm(spec), 4, [
      [0, ext(800)], // 4, on target
      [100, ext(1000)], // 5 (scale up at once)
      [200, ext(400)], // wants 2: the window still holds 5
      [701, ext(400)], // the 5 of t=100 left the window (cutoff 101): down, 1 pod per period
    ]);
    expect(steps.map((s) => s.desired)).toEqual([4, 5, 5, 4]);
  });

  it('selectPolicy Disabled never scales that way', () => {
    const algo = new HpaAlgorithm({
      ...spec,
      behavior: { ...chartBehavior, scaleDown: { selectPolicy: 'Disabled', stabilizationWindowSeconds: 0 } },
    });
    expect(
      run(algo, 6, [
        [0, ext(10)],
        [500, ext(10)],
      ]).map((s) => s.desired),
    ).toEqual([6, 6]);
  });

  it('Percent scale-down truncates, selectPolicy Max picks the biggest change', () => {
    const algo = new HpaAlgorithm({
      minReplicas: 1,
      maxReplicas: 20,
      targetAverageValue: 100,
      behavior: {
        scaleDown: {
          stabilizationWindowSeconds: 0,
          selectPolicy: 'Max',
          policies: [
            { type: 'Percent', value: 50, periodSeconds: 60 },
            { type: 'Pods', value: 2, periodSeconds: 60 },
          ],
        },
      },
    });
    // From 9: Percent -> trunc(4.5) = 4, Pods -> 7; Max change picks 4.
    expect(
      run(algo, 9, [
        [0, ext(100)],
        [30, ext(100)],
        [61, ext(100)],
      ]).map((s) => s.desired),
    ).toEqual([4, 4, 2]);
  });

  it('brings the count into [min, max] before reading the metric', () => {
    expect(new HpaAlgorithm(spec).recommend(0, 1, ext(0))).toMatchObject({ desired: 2, limitedBy: 'min' });
    expect(new HpaAlgorithm(spec).recommend(0, 25, ext(0))).toMatchObject({ desired: 20, limitedBy: 'max' });
    expect(new HpaAlgorithm(spec).recommend(0, 0, ext(5000)).desired).toBe(0); // scaled to 0 by hand
  });

  it('Kubernetes defaults when behavior is absent: scale down after 300 s, up by max(100 %, 4) per 15 s', () => {
    const algo = new HpaAlgorithm({ minReplicas: 1, maxReplicas: 50, targetAverageValue: 10 });
    expect(
      run(algo, 1, [
        [0, ext(200)],
        [16, ext(200)],
        [32, ext(200)],
      ]).map((s) => s.desired),
    ).toEqual([5, 10, 20]);
    const down = new HpaAlgorithm({ minReplicas: 1, maxReplicas: 50, targetAverageValue: 10 });
    expect(
      run(down, 20, [
        [0, ext(10)],
        [299, ext(10)],
        [301, ext(10)],
      ]).map((s) => s.desired),
    ).toEqual([20, 20, 1]);
  });
});
