import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import type { IConfigMap } from 'kubernetes-models/v1';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { container, deployment, podSpec, rendered, seconds } from './fixtures.js';
import { type Manifest, ofKind, one, template } from './helm.js';

/** The scrape interval the chart renders (values `metrics.interval`, 15s by default). */
const scrapeSeconds = (docs: Manifest[]): number => {
  const monitor = docs.find((d) => d.kind === 'ServiceMonitor' || d.kind === 'PodMonitor') as
    | { spec: { endpoints?: { interval?: string }[]; podMetricsEndpoints?: { interval?: string }[] } }
    | undefined;
  const interval = monitor
    ? (monitor.spec.endpoints ?? monitor.spec.podMetricsEndpoints ?? [])[0]?.interval
    : undefined;
  return seconds(interval ?? '15s');
};

type HpaBehavior = NonNullable<NonNullable<IHorizontalPodAutoscaler['spec']>['behavior']>;

const checkBehavior = (behavior: HpaBehavior | undefined, grace: number, scrapeS: number) => {
  const down = behavior?.scaleDown;
  expect(down?.policies?.length).toBeGreaterThan(0);
  for (const p of down?.policies ?? []) {
    expect(p).toMatchObject({ type: 'Pods', value: 1 });
    // One drain finishes before the next pod is removed.
    expect(p.periodSeconds).toBeGreaterThanOrEqual(grace);
  }
  expect(down?.selectPolicy).toBe('Min');
  expect(down?.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
  // A few scrapes: a socket in flight between two pods is counted twice for up to one scrape
  // (measured in autoscaling-live), which must not add a pod; still fast (at most a minute).
  expect(behavior?.scaleUp?.stabilizationWindowSeconds).toBeGreaterThanOrEqual(2 * scrapeS);
  expect(behavior?.scaleUp?.stabilizationWindowSeconds).toBeLessThanOrEqual(60);
  expect(behavior?.scaleUp?.selectPolicy).toBe('Max');
};

describe('KEDA, the primary autoscaler', () => {
  const docs = rendered('keda');
  const so = one<IScaledObject>(docs, 'ScaledObject');
  const trigger = so.spec.triggers[0];

  it('ScaledObject with a Prometheus trigger on the gauge, slow scale-down, no HPA', () => {
    expect(so.spec.scaleTargetRef.name).toBe('rel-chat');
    expect(so.spec.minReplicaCount).toBe(2);
    expect(so.spec.maxReplicaCount).toBe(10);
    expect(trigger?.type).toBe('prometheus');
    expect(trigger?.metricType).toBe('AverageValue');
    expect(trigger?.metadata.threshold).toBe('2000');
    expect(trigger?.metadata.serverAddress).toBe('http://prometheus.monitoring.svc:9090');
    expect(trigger?.authenticationRef?.name).toBe('prometheus-auth');
    checkBehavior(
      so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior as HpaBehavior,
      Number(podSpec(docs).terminationGracePeriodSeconds),
      scrapeSeconds(docs),
    );
    expect(ofKind(docs, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(deployment(docs).spec?.replicas).toBeUndefined();
  });

  it('the query takes max by pod before summing, so a pod scraped twice counts once', () => {
    expect(trigger?.metadata.query).toBe(
      'sum(max by (namespace, pod) (chat_connections_active{namespace="chat",pod=~"rel-chat-[a-z0-9]+-[a-z0-9]+"}))',
    );
  });

  it('a lost target is an error, not 0 connections: ignoreNullValues "false" and a fallback', () => {
    expect(trigger?.metadata.ignoreNullValues).toBe('false');
    expect(so.spec.fallback).toEqual({
      failureThreshold: 3,
      replicas: 3,
      behavior: 'currentReplicasIfHigher',
    });
    // Fallback needs an AverageValue trigger (KEDA rejects it for Value triggers).
    expect(trigger?.metricType).toBe('AverageValue');
  });

  it('no cooldownPeriod: KEDA applies it only to scale-to-zero, which the chart never does', () => {
    expect(so.spec.cooldownPeriod).toBeUndefined();
    expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
  });
});

describe('HPA + prometheus-adapter, the alternative', () => {
  const docs = rendered('istio-hpa');

  it('autoscaling/v2 Pods metric chat_connections_active with an AverageValue target', () => {
    const hpa = one<IHorizontalPodAutoscaler>(docs, 'HorizontalPodAutoscaler');
    expect(hpa.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'rel-chat' });
    expect(hpa.spec?.minReplicas).toBe(3);
    expect(hpa.spec?.maxReplicas).toBe(30);
    expect(hpa.spec?.metrics).toHaveLength(1);
    const m = hpa.spec?.metrics?.[0];
    expect(m?.type).toBe('Pods');
    expect(m?.pods?.metric.name).toBe('chat_connections_active');
    expect(m?.pods?.target).toEqual({ type: 'AverageValue', averageValue: '3000' });
    checkBehavior(
      hpa.spec?.behavior,
      Number(podSpec(docs).terminationGracePeriodSeconds),
      scrapeSeconds(docs),
    );
    expect(deployment(docs).spec?.replicas).toBeUndefined();
    expect(ofKind(docs, 'ScaledObject')).toHaveLength(0);
  });

  it('the adapter rule serves the gauge per pod with max, not sum (no double counting)', () => {
    const cm = ofKind<IConfigMap>(docs, 'ConfigMap').find((c) => c.data?.['config.yaml']);
    const rules = parse(cm?.data?.['config.yaml'] ?? '') as {
      rules: {
        seriesQuery: string;
        metricsQuery: string;
        resources: { overrides: Record<string, unknown> };
        name: { as: string };
      }[];
    };
    const rule = rules.rules[0];
    expect(rule?.seriesQuery).toContain('chat_connections_active');
    expect(Object.keys(rule?.resources.overrides ?? {})).toEqual(['namespace', 'pod']);
    expect(rule?.name.as).toBe('chat_connections_active');
    expect(rule?.metricsQuery).toBe('max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)');
  });

  it('HPA and KEDA together are refused', () => {
    const run = template({ set: { 'autoscaling.hpa.enabled': true, 'autoscaling.keda.enabled': true } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('mutually exclusive');
  });

  it('a scale-down period shorter than a drain is refused', () => {
    const run = template({
      set: { 'autoscaling.hpa.enabled': true, 'autoscaling.scaleDown.periodSeconds': 30 },
    });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(
      /scaleDown\.periodSeconds \(30\) must be at least terminationGracePeriodSeconds \(45\)/,
    );
  });

  it('no autoscaler by default: neither an HPA nor a ScaledObject', () => {
    expect(ofKind(rendered('default'), 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(ofKind(rendered('default'), 'ScaledObject')).toHaveLength(0);
  });
});

describe('pod-deletion-cost: a scale-down drains the emptiest pod first', () => {
  const docs = rendered('keda');

  it('an updater container with its own projected token; the server container has none', () => {
    const spec = podSpec(docs);
    expect(spec.automountServiceAccountToken).toBe(false);
    const updater = container(docs, 'deletion-cost');
    expect(updater.command).toEqual(['node', '/opt/chat-deletion-cost/updater.js']);
    const tokenMount = updater.volumeMounts?.find(
      (m) => m.mountPath === '/var/run/secrets/chat-deletion-cost',
    );
    const volume = spec.volumes?.find((v) => v.name === tokenMount?.name);
    expect(volume?.projected?.sources?.some((s) => s.serviceAccountToken)).toBe(true);
    expect(container(docs, 'server').volumeMounts?.some((m) => m.name === tokenMount?.name)).toBe(false);
    const role = one<IRole>(docs, 'Role');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['patch'] }]);
    expect(ofKind(rendered('default'), 'Role')).toHaveLength(0);
  });

  let child: ChildProcess | undefined;
  let stub: Server | undefined;
  afterEach(async () => {
    child?.kill('SIGKILL');
    if (stub) await new Promise((r) => stub?.close(r));
    child = undefined;
    stub = undefined;
  });

  it('the rendered updater script patches its pod with its open connections (the emptiest has the lowest cost)', async () => {
    const script = ofKind<IConfigMap>(docs, 'ConfigMap').find((c) => c.data?.['updater.js'])?.data?.[
      'updater.js'
    ];
    expect(script).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'deletion-cost-'));
    writeFileSync(join(dir, 'updater.js'), script ?? '');
    writeFileSync(join(dir, 'token'), 'test-token\n');

    // One local HTTP server plays both the metrics endpoint and the Kubernetes API.
    let connections = 42;
    const patches: { url: string; auth: string | undefined; type: string | undefined; body: unknown }[] = [];
    let onPatch: (() => void) | undefined;
    const body = async (req: IncomingMessage) => {
      let text = '';
      for await (const chunk of req) text += String(chunk);
      return text;
    };
    stub = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') {
        res.end(`# TYPE chat_connections_active gauge\nchat_connections_active ${connections}\n`);
        return;
      }
      void body(req).then((text) => {
        patches.push({
          url: req.url ?? '',
          auth: req.headers.authorization,
          type: req.headers['content-type'],
          body: JSON.parse(text),
        });
        res.end('{}');
        onPatch?.();
      });
    });
    stub.listen(0, '127.0.0.1');
    await once(stub, 'listening');
    const base = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    const nextPatch = () => new Promise<void>((r) => (onPatch = r));

    const first = nextPatch();
    child = spawn(process.execPath, [join(dir, 'updater.js')], {
      env: {
        PATH: process.env.PATH ?? '',
        POD_NAME: 'rel-chat-abc-xyz',
        POD_NAMESPACE: 'chat',
        METRICS_URL: `${base}/metrics`,
        KUBE_API: base,
        TOKEN_FILE: join(dir, 'token'),
        INTERVAL_S: '0.05',
      },
      stdio: 'ignore',
    });
    await first;
    expect(patches[0]).toEqual({
      url: '/api/v1/namespaces/chat/pods/rel-chat-abc-xyz',
      auth: 'Bearer test-token',
      type: 'application/merge-patch+json',
      body: { metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': '42' } } },
    });
    // Unchanged count: no new patch; a changed count: patched again.
    const second = nextPatch();
    connections = 7;
    await second;
    expect(patches).toHaveLength(2);
    expect(patches[1]?.body).toEqual({
      metadata: { annotations: { 'controller.kubernetes.io/pod-deletion-cost': '7' } },
    });
  });
});
