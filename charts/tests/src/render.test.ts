import type {
  IDestinationRule,
  IGateway,
  IVirtualService,
} from '@kubernetes-models/istio/networking.istio.io/v1';
import type { IPeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { IDeployment, IStatefulSet } from 'kubernetes-models/apps/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IConfigMap, IPod, ISecret, IService, IServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  countKinds,
  type Manifest,
  ofKind,
  one,
  render,
  renderScenario,
  type Scenario,
  template,
} from './helm.js';
import { validateManifest } from './models.js';

type PodSpec = NonNullable<NonNullable<IDeployment['spec']>['template']['spec']>;
type Container = PodSpec['containers'][number];
type HpaBehavior = NonNullable<NonNullable<IHorizontalPodAutoscaler['spec']>['behavior']>;

const names: Scenario[] = ['default', 'istio-hpa', 'keda', 'single-replica'];
const rendered = Object.fromEntries(names.map((n) => [n, renderScenario(n)])) as Record<Scenario, Manifest[]>;

const deployment = (docs: Manifest[]) => one<IDeployment>(docs, 'Deployment');
const podSpec = (docs: Manifest[]): PodSpec => {
  const spec = deployment(docs).spec?.template.spec;
  if (!spec) throw new Error('Deployment without a pod spec');
  return spec;
};
const server = (docs: Manifest[]): Container => {
  const c = podSpec(docs).containers.find((x) => x.name === 'server');
  if (!c) throw new Error('no server container');
  return c;
};
const config = (docs: Manifest[]): Record<string, string> => one<IConfigMap>(docs, 'ConfigMap').data ?? {};
const configOf = (docs: Manifest[]): Record<string, string> => {
  const cm = ofKind<IConfigMap>(docs, 'ConfigMap').find((c) => c.data?.DRAIN_WINDOW_MS !== undefined);
  if (!cm?.data) throw new Error('no server ConfigMap');
  return cm.data;
};
const preStopSeconds = (c: Container): number => {
  const hook = c.lifecycle?.preStop;
  if (hook?.sleep) return Number(hook.sleep.seconds);
  const cmd = hook?.exec?.command ?? [];
  expect(cmd[0]).toBe('sleep');
  return Number(cmd[1]);
};
/** Every pod template the chart renders (Deployment, StatefulSet, the helm test Pod). */
const podSpecs = (docs: Manifest[]): [string, PodSpec][] => [
  ...ofKind<IDeployment>(docs, 'Deployment').map((d): [string, PodSpec] => [
    `Deployment/${d.metadata?.name}`,
    d.spec?.template.spec as PodSpec,
  ]),
  ...ofKind<IStatefulSet>(docs, 'StatefulSet').map((d): [string, PodSpec] => [
    `StatefulSet/${d.metadata?.name}`,
    d.spec?.template.spec as PodSpec,
  ]),
  ...ofKind<IPod>(docs, 'Pod').map((p): [string, PodSpec] => [`Pod/${p.metadata?.name}`, p.spec as PodSpec]),
];

describe('every rendered document is a valid Kubernetes / Istio / KEDA / prometheus-operator object', () => {
  it.each(names)('%s', (name) => {
    const docs = rendered[name];
    expect(docs.length).toBeGreaterThan(5);
    for (const doc of docs) validateManifest(doc);
    const ids = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    for (const d of docs) {
      expect(d.metadata.labels?.['app.kubernetes.io/instance'], `${d.kind} labels`).toBe('rel');
      expect(d.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    }
  });

  it('the validation is not a no-op: a broken document is rejected', () => {
    const hpa = one<Manifest>(rendered['istio-hpa'], 'HorizontalPodAutoscaler');
    const broken = structuredClone(hpa) as Manifest & { spec: { maxReplicas: unknown } };
    broken.spec.maxReplicas = 'many';
    expect(() => validateManifest(broken)).toThrow(/maxReplicas/);
    const vs = structuredClone(one<Manifest>(rendered['istio-hpa'], 'VirtualService')) as Manifest & {
      spec: { http: { timeout: unknown }[] };
    };
    (vs.spec.http[0] as { timeout: unknown }).timeout = 0;
    expect(() => validateManifest(vs)).toThrow(/timeout/);
  });
});

describe('resource counts per scenario', () => {
  it.each([
    [
      'default',
      {
        ConfigMap: 1,
        Deployment: 1,
        NetworkPolicy: 2,
        Pod: 1,
        PodDisruptionBudget: 1,
        Secret: 1,
        Service: 2,
        ServiceAccount: 1,
        StatefulSet: 1,
      },
    ],
    [
      'istio-hpa',
      {
        ConfigMap: 2,
        Deployment: 1,
        DestinationRule: 1,
        Gateway: 1,
        HorizontalPodAutoscaler: 1,
        NetworkPolicy: 2,
        PeerAuthentication: 1,
        Pod: 1,
        PodDisruptionBudget: 1,
        Secret: 1,
        Service: 2,
        ServiceAccount: 1,
        ServiceMonitor: 1,
        StatefulSet: 1,
        VirtualService: 1,
      },
    ],
    [
      'keda',
      {
        ConfigMap: 1,
        Deployment: 1,
        NetworkPolicy: 1,
        Pod: 1,
        PodDisruptionBudget: 1,
        ScaledObject: 1,
        Service: 1,
        ServiceAccount: 1,
      },
    ],
    [
      'single-replica',
      { ConfigMap: 1, Deployment: 1, NetworkPolicy: 1, Secret: 1, Service: 1, ServiceAccount: 1 },
    ],
  ] as const)('%s', (name, counts) => {
    expect(countKinds(rendered[name])).toEqual(counts);
  });
});

describe('drain timing: one set of values drives the pod and the server', () => {
  const check = (docs: Manifest[]) => {
    const spec = podSpec(docs);
    const env = configOf(docs);
    const grace = Number(spec.terminationGracePeriodSeconds);
    const preStop = preStopSeconds(server(docs));
    const drainMs = Number(env.DRAIN_WINDOW_MS);
    const shutdownMs = Number(env.SHUTDOWN_TIMEOUT_MS);
    expect(Number.isInteger(grace) && Number.isInteger(drainMs) && Number.isInteger(shutdownMs)).toBe(true);
    expect(preStop).toBeGreaterThan(0);
    // The kubelet waits longer than preStop + the whole drain, and longer than the server's own deadline.
    expect(grace).toBeGreaterThan(preStop + drainMs / 1000);
    expect(shutdownMs).toBeGreaterThan(drainMs);
    expect(grace * 1000).toBeGreaterThan(preStop * 1000 + shutdownMs);
    return { grace, preStop, drainMs, shutdownMs };
  };

  it.each(names)('%s: grace > preStop + drain window, SHUTDOWN_TIMEOUT_MS between them', (name) => {
    check(rendered[name]);
  });

  it('defaults: 10 s preStop, 20 s window, 30 s deadline, 45 s grace', () => {
    expect(check(rendered.default)).toEqual({ grace: 45, preStop: 10, drainMs: 20_000, shutdownMs: 30_000 });
  });

  it('changing the drain values moves every derived number together', () => {
    const docs = render({
      set: {
        'drain.preStopSeconds': 7,
        'drain.windowSeconds': 90,
        'drain.shutdownMarginSeconds': 12,
        'drain.graceMarginSeconds': 3,
      },
    });
    expect(check(docs)).toEqual({ grace: 7 + 90 + 12 + 3, preStop: 7, drainMs: 90_000, shutdownMs: 102_000 });
  });

  it('the native sleep preStop action carries the same seconds', () => {
    const c = server(rendered['single-replica']);
    expect(c.lifecycle?.preStop?.sleep?.seconds).toBe(10);
    expect(c.lifecycle?.preStop?.exec).toBeUndefined();
  });

  it('the Istio sidecar drain outlasts the app drain and the proxy starts first', () => {
    const docs = rendered['istio-hpa'];
    const { grace, preStop, shutdownMs } = check(docs);
    const annotation = deployment(docs).spec?.template.metadata?.annotations?.['proxy.istio.io/config'];
    expect(annotation).toBeDefined();
    const proxy = parse(annotation as string) as {
      holdApplicationUntilProxyStarts: boolean;
      terminationDrainDuration: string;
      proxyMetadata: Record<string, string>;
    };
    expect(proxy.holdApplicationUntilProxyStarts).toBe(true);
    const drainS = Number(/^(\d+)s$/.exec(proxy.terminationDrainDuration)?.[1]);
    expect(drainS).toBeGreaterThanOrEqual(preStop + shutdownMs / 1000);
    expect(drainS).toBeLessThan(grace);
    expect(proxy.proxyMetadata.EXIT_ON_ZERO_ACTIVE_CONNECTIONS).toBe('true');
    const minDrain = Number(/^(\d+)s$/.exec(proxy.proxyMetadata.MINIMUM_DRAIN_DURATION ?? '')?.[1]);
    expect(minDrain).toBeGreaterThanOrEqual(preStop + Number(configOf(docs).DRAIN_WINDOW_MS) / 1000);
  });
});

describe('numbers', () => {
  it('large values render as integers, never in exponent notation (Helm reads numbers as floats)', () => {
    const run = template({
      set: {
        'server.limits.sendBufferLimitBytes': 16_777_216,
        'server.limits.maxConnections': 3_000_000,
        'server.history.idempotencyTtlSeconds': 2_592_000,
        'autoscaling.hpa.enabled': true,
        'autoscaling.targetConnectionsPerPod': 1_500_000,
        'istio.enabled': true,
        'istio.destinationRule.maxConnections': 2_000_000,
      },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/\de\+\d/);
    expect(run.stdout).toContain('SEND_BUFFER_LIMIT_BYTES: "16777216"');
    expect(run.stdout).toContain('averageValue: "1500000"');
    expect(run.stdout).toMatch(/maxConnections: 2000000$/m);
  });

  it('every server setting in the ConfigMap is a decimal integer, a boolean or a plain string', () => {
    const strings = [
      'NODE_ENV',
      'HOST',
      'LOG_LEVEL',
      'REDIS_URL',
      'REDIS_PREFIX',
      'TOKEN_ISSUER',
      'TOKEN_AUDIENCE',
      'ALLOWED_ORIGINS',
    ];
    for (const name of names) {
      for (const [key, value] of Object.entries(configOf(rendered[name]))) {
        if (['DEV_TOKENS', 'TRUST_PROXY'].includes(key)) expect(value, key).toMatch(/^(true|false)$/);
        else if (!strings.includes(key)) expect(value, key).toMatch(/^\d+$/);
      }
    }
  });
});

describe('probes, rollout and identity', () => {
  it('startup and liveness on /livez, readiness on /readyz, all on the http port', () => {
    const c = server(rendered.default);
    expect(c.startupProbe?.httpGet?.path).toBe('/livez');
    expect(c.livenessProbe?.httpGet?.path).toBe('/livez');
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    for (const p of [c.startupProbe, c.livenessProbe, c.readinessProbe])
      expect(p?.httpGet?.port).toBe('http');
    expect(c.ports?.[0]).toMatchObject({ name: 'http', containerPort: 8080 });
  });

  it('a roll starts the new pod before stopping an old one', () => {
    const d = deployment(rendered.default);
    expect(d.spec?.strategy?.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(d.spec?.replicas).toBe(3);
  });

  it('NODE_ID is the pod name; NODE_ENV is production; the ConfigMap is loaded whole', () => {
    const c = server(rendered.default);
    expect(c.env?.find((e) => e.name === 'NODE_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(c.envFrom?.[0]?.configMapRef?.name).toBe('rel-chat');
    expect(config(rendered.default).NODE_ENV).toBe('production');
  });

  it('topology spread over zones and nodes, per rollout', () => {
    const spread = podSpec(rendered.default).topologySpreadConstraints ?? [];
    expect(spread.map((t) => t.topologyKey)).toEqual([
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    ]);
    for (const t of spread) {
      expect(t.labelSelector?.matchLabels?.['app.kubernetes.io/component']).toBe('server');
      expect(t.matchLabelKeys).toEqual(['pod-template-hash']);
    }
  });

  it('checksum/config follows the ConfigMap, so a config change rolls the pods', () => {
    const annotations = (docs: Manifest[]) => deployment(docs).spec?.template.metadata?.annotations ?? {};
    const a = annotations(rendered.default);
    const b = annotations(render({ set: { 'server.logLevel': 'debug' } }));
    expect(a['checksum/config']).toMatch(/^[a-f0-9]{64}$/);
    expect(a['checksum/secret']).toMatch(/^[a-f0-9]{64}$/);
    expect(b['checksum/config']).not.toBe(a['checksum/config']);
  });

  it('ServiceAccount exists with its token not mounted', () => {
    const sa = one<IServiceAccount>(rendered.default, 'ServiceAccount');
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(podSpec(rendered.default).serviceAccountName).toBe(sa.metadata?.name);
    expect(podSpec(rendered.default).automountServiceAccountToken).toBe(false);
  });
});

describe('security: nothing runs as root, the root filesystem is read-only', () => {
  it.each(names)('%s: every container of every pod template', (name) => {
    const specs = podSpecs(rendered[name]);
    expect(specs.length).toBeGreaterThan(0);
    for (const [where, spec] of specs) {
      expect(spec.automountServiceAccountToken, where).toBe(false);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const sc = c.securityContext ?? {};
        const pod = spec.securityContext ?? {};
        const label = `${where} container ${c.name}`;
        expect(sc.runAsNonRoot ?? pod.runAsNonRoot, label).toBe(true);
        const uid = sc.runAsUser ?? pod.runAsUser;
        expect(uid, label).toBeDefined();
        expect(uid, label).not.toBe(0);
        expect(sc.readOnlyRootFilesystem, label).toBe(true);
        expect(sc.allowPrivilegeEscalation, label).toBe(false);
        expect(sc.capabilities?.drop, label).toContain('ALL');
        expect(sc.capabilities?.add ?? [], label).toEqual([]);
        expect((sc.seccompProfile ?? pod.seccompProfile)?.type, label).toBe('RuntimeDefault');
        // A read-only root needs a writable /tmp.
        if (c.name !== 'redis') {
          const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
          expect(tmp, label).toBeDefined();
          expect(spec.volumes?.find((v) => v.name === tmp?.name)?.emptyDir, label).toBeDefined();
        }
      }
    }
  });
});

describe('secrets: TOKEN_SECRET only through secretKeyRef, never a literal', () => {
  const allContainers = (docs: Manifest[]) =>
    podSpecs(docs).flatMap(([where, spec]) => spec.containers.map((c) => [where, c] as const));

  it.each(names)('%s', (name) => {
    const docs = rendered[name];
    let refs = 0;
    for (const [where, c] of allContainers(docs)) {
      for (const e of c.env ?? []) {
        if (e.name === 'TOKEN_SECRET' || e.name === 'REDIS_URL') {
          if (e.name === 'REDIS_URL') {
            expect(e.valueFrom?.secretKeyRef, `${where} ${e.name}`).toBeDefined();
          }
          if (e.name === 'TOKEN_SECRET') {
            expect(e.value, where).toBeUndefined();
            expect(e.valueFrom?.secretKeyRef?.name, where).toBeTruthy();
            refs++;
          }
        }
      }
    }
    expect(refs).toBeGreaterThanOrEqual(1);
    for (const cm of ofKind<IConfigMap>(docs, 'ConfigMap')) {
      expect(Object.keys(cm.data ?? {})).not.toContain('TOKEN_SECRET');
    }
    // The only place a secret value may appear is a Secret's data, and it appears nowhere else.
    for (const s of ofKind<ISecret>(docs, 'Secret')) {
      for (const v of Object.values(s.data ?? {})) {
        const plain = Buffer.from(v, 'base64').toString('utf8');
        const elsewhere = docs.filter((d) => d !== (s as unknown)).map((d) => JSON.stringify(d));
        for (const text of elsewhere) {
          expect(text.includes(plain)).toBe(false);
          expect(text.includes(v)).toBe(false);
        }
      }
    }
  });

  it('a generated secret is random (>= 32 chars) and differs between installs: no default in values', () => {
    const token = (docs: Manifest[]) => {
      const data = one<ISecret>(docs, 'Secret').data ?? {};
      return Buffer.from(data.TOKEN_SECRET ?? '', 'base64').toString('utf8');
    };
    const a = token(rendered.default);
    const b = token(render());
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(a).not.toBe(b);
  });

  it('existingSecret: no chart Secret, the pods and the test pod read the named Secret and key', () => {
    const docs = rendered.keda;
    expect(ofKind(docs, 'Secret')).toHaveLength(0);
    for (const [, c] of allContainers(docs)) {
      const ref = c.env?.find((e) => e.name === 'TOKEN_SECRET')?.valueFrom?.secretKeyRef;
      expect(ref).toEqual({ name: 'chat-auth', key: 'token-secret' });
    }
    const redis = server(docs).env?.find((e) => e.name === 'REDIS_URL')?.valueFrom?.secretKeyRef;
    expect(redis).toEqual({ name: 'chat-redis', key: 'url' });
  });

  it('a Redis URL with a password goes to the Secret, not the ConfigMap', () => {
    const url = 'rediss://default:s3cret-pass@redis.example.internal:6380';
    const docs = render({ set: { 'redis.url': url, 'redis.embedded.enabled': false } });
    const secret = one<ISecret>(docs, 'Secret');
    expect(Buffer.from(secret.data?.REDIS_URL ?? '', 'base64').toString()).toBe(url);
    expect(config(docs).REDIS_URL).toBeUndefined();
    expect(JSON.stringify(docs.filter((d) => d.kind !== 'Secret'))).not.toContain('s3cret-pass');
    expect(ofKind(docs, 'StatefulSet')).toHaveLength(0);
  });
});

describe('autoscaling on active connections', () => {
  const checkBehavior = (behavior: HpaBehavior | undefined, grace: number) => {
    const down = behavior?.scaleDown;
    expect(down?.policies?.length).toBeGreaterThan(0);
    for (const p of down?.policies ?? []) {
      expect(p).toMatchObject({ type: 'Pods', value: 1 });
      // One drain finishes before the next pod is removed.
      expect(p.periodSeconds).toBeGreaterThanOrEqual(grace);
    }
    expect(down?.selectPolicy).toBe('Min');
    expect(down?.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
    expect(behavior?.scaleUp?.stabilizationWindowSeconds).toBe(0);
    expect(behavior?.scaleUp?.selectPolicy).toBe('Max');
  };

  it('HPA: autoscaling/v2 Pods metric chat_connections_active with an AverageValue target', () => {
    const docs = rendered['istio-hpa'];
    const hpa = one<IHorizontalPodAutoscaler>(docs, 'HorizontalPodAutoscaler');
    expect(hpa.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'rel-chat' });
    expect(hpa.spec?.minReplicas).toBe(3);
    expect(hpa.spec?.maxReplicas).toBe(30);
    expect(hpa.spec?.metrics).toHaveLength(1);
    const m = hpa.spec?.metrics?.[0];
    expect(m?.type).toBe('Pods');
    expect(m?.pods?.metric.name).toBe('chat_connections_active');
    expect(m?.pods?.target).toEqual({ type: 'AverageValue', averageValue: '3000' });
    checkBehavior(hpa.spec?.behavior, Number(podSpec(docs).terminationGracePeriodSeconds));
    // The autoscaler owns the replica count.
    expect(deployment(docs).spec?.replicas).toBeUndefined();
    expect(ofKind(docs, 'ScaledObject')).toHaveLength(0);
  });

  it('the prometheus-adapter rule serves the gauge per pod', () => {
    const cm = ofKind<IConfigMap>(rendered['istio-hpa'], 'ConfigMap').find((c) => c.data?.['config.yaml']);
    const rules = parse(cm?.data?.['config.yaml'] ?? '') as {
      rules: {
        seriesQuery: string;
        resources: { overrides: Record<string, unknown> };
        name: { as: string };
      }[];
    };
    expect(rules.rules[0]?.seriesQuery).toContain('chat_connections_active');
    expect(Object.keys(rules.rules[0]?.resources.overrides ?? {})).toEqual(['namespace', 'pod']);
    expect(rules.rules[0]?.name.as).toBe('chat_connections_active');
  });

  it('KEDA: ScaledObject with a Prometheus trigger on the gauge, same slow scale-down, no HPA', () => {
    const docs = rendered.keda;
    const so = one<IScaledObject>(docs, 'ScaledObject');
    expect(so.spec.scaleTargetRef.name).toBe('rel-chat');
    expect(so.spec.minReplicaCount).toBe(2);
    expect(so.spec.maxReplicaCount).toBe(10);
    const trigger = so.spec.triggers[0];
    expect(trigger?.type).toBe('prometheus');
    expect(trigger?.metricType).toBe('AverageValue');
    expect(trigger?.metadata.query).toMatch(
      /^sum\(chat_connections_active\{namespace="chat",pod=~"rel-chat-/,
    );
    expect(trigger?.metadata.threshold).toBe('2000');
    expect(trigger?.metadata.serverAddress).toBe('http://prometheus.monitoring.svc:9090');
    expect(trigger?.authenticationRef?.name).toBe('prometheus-auth');
    checkBehavior(
      so.spec.advanced?.horizontalPodAutoscalerConfig?.behavior as HpaBehavior,
      Number(podSpec(docs).terminationGracePeriodSeconds),
    );
    expect(ofKind(docs, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(deployment(docs).spec?.replicas).toBeUndefined();
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
    expect(ofKind(rendered.default, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(ofKind(rendered.default, 'ScaledObject')).toHaveLength(0);
  });
});

describe('Istio for long-lived upgraded connections', () => {
  const docs = rendered['istio-hpa'];

  it('VirtualService: the WebSocket route has no timeout and retries refused upgrades on 503', () => {
    const vs = one<IVirtualService>(docs, 'VirtualService');
    const ws = vs.spec?.http?.find((r) =>
      r.match?.some((m) => m.uri?.exact === '/ws' || m.uri?.prefix === '/ws'),
    );
    expect(ws).toBeDefined();
    expect(ws?.timeout).toBe('0s');
    const retryOn = (ws?.retries?.retryOn ?? '').split(',');
    expect(retryOn).toEqual(expect.arrayContaining(['connect-failure', 'refused-stream', '503']));
    expect(ws?.retries?.attempts).toBeGreaterThanOrEqual(2);
    expect(ws?.route?.[0]?.destination?.host).toBe('rel-chat.chat.svc.cluster.local');
    expect(vs.spec?.gateways).toEqual(['rel-chat', 'mesh']);
    // Every other path keeps a finite timeout.
    for (const r of vs.spec?.http ?? []) if (r !== ws) expect(r.timeout).not.toBe('0s');
  });

  it('Gateway serves the hosts over HTTPS with a redirect from HTTP', () => {
    const gw = one<IGateway>(docs, 'Gateway');
    expect(gw.spec?.servers?.map((s) => s.port?.protocol)).toEqual(['HTTP', 'HTTPS']);
    expect(gw.spec?.servers?.[0]?.tls?.httpsRedirect).toBe(true);
    expect(gw.spec?.servers?.[1]?.tls?.credentialName).toBe('chat-example-com-tls');
  });

  it('DestinationRule: LEAST_REQUEST, a connection pool and outlier detection, HTTP/1.1 upstream', () => {
    const dr = one<IDestinationRule>(docs, 'DestinationRule');
    const tp = dr.spec?.trafficPolicy;
    expect(tp?.loadBalancer?.simple).toBe('LEAST_REQUEST');
    expect(tp?.connectionPool?.tcp?.maxConnections).toBeGreaterThan(0);
    expect(tp?.connectionPool?.http?.h2UpgradePolicy).toBe('DO_NOT_UPGRADE');
    expect(tp?.outlierDetection?.consecutiveGatewayErrors).toBeGreaterThan(0);
    expect(tp?.outlierDetection?.maxEjectionPercent).toBeLessThan(100);
  });

  it('PeerAuthentication STRICT on the server pods; sidecar injected', () => {
    const pa = one<IPeerAuthentication>(docs, 'PeerAuthentication');
    expect(pa.spec?.mtls?.mode).toBe('STRICT');
    expect(pa.spec?.selector?.matchLabels?.['app.kubernetes.io/component']).toBe('server');
    expect(deployment(docs).spec?.template.metadata?.labels?.['sidecar.istio.io/inject']).toBe('true');
  });

  it('Service port named and typed so Istio treats it as HTTP (WebSocket upgrades)', () => {
    for (const name of names) {
      const svc = ofKind<IService>(rendered[name], 'Service').find((s) => s.metadata?.name === 'rel-chat');
      const port = svc?.spec?.ports?.[0];
      expect(port?.name).toMatch(/^http(-|$)/);
      expect(port?.appProtocol).toBe('http');
      expect(port?.targetPort).toBe('http');
    }
  });

  it('no Istio resources unless enabled', () => {
    for (const kind of ['Gateway', 'VirtualService', 'DestinationRule', 'PeerAuthentication']) {
      expect(ofKind(rendered.default, kind)).toHaveLength(0);
    }
    expect(
      deployment(rendered.default).spec?.template.metadata?.annotations?.['proxy.istio.io/config'],
    ).toBeUndefined();
  });
});

describe('disruption, network, Redis, helm test', () => {
  it('PodDisruptionBudget: one server pod at a time', () => {
    const pdb = one<IPodDisruptionBudget>(rendered.default, 'PodDisruptionBudget');
    expect(pdb.spec?.maxUnavailable).toBe(1);
    expect(pdb.spec?.selector?.matchLabels).toEqual(deployment(rendered.default).spec?.selector.matchLabels);
  });

  it('NetworkPolicy: server port in, DNS and Redis out; the demo Redis only from the servers', () => {
    const nps = ofKind<INetworkPolicy>(rendered.default, 'NetworkPolicy');
    const srv = nps.find((n) => n.metadata?.name === 'rel-chat');
    expect(srv?.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(srv?.spec?.ingress?.[0]?.ports?.[0]?.port).toBe('http');
    const egressPorts = (srv?.spec?.egress ?? []).flatMap((e) => e.ports?.map((p) => p.port) ?? []);
    expect(egressPorts).toEqual(expect.arrayContaining([53, 6379]));
    const redis = nps.find((n) => n.metadata?.name === 'rel-chat-redis');
    expect(
      redis?.spec?.ingress?.[0]?.from?.[0]?.podSelector?.matchLabels?.['app.kubernetes.io/component'],
    ).toBe('server');
  });

  it('NetworkPolicy with allowExternal false admits only clients, the gateway and Prometheus', () => {
    const nps = ofKind<INetworkPolicy>(rendered['istio-hpa'], 'NetworkPolicy');
    const from = nps.find((n) => n.metadata?.name === 'rel-chat')?.spec?.ingress?.[0]?.from ?? [];
    expect(from[0]?.podSelector?.matchLabels).toEqual({ 'rel-chat-client': 'true' });
    expect(from[1]?.namespaceSelector?.matchLabels).toEqual({
      'kubernetes.io/metadata.name': 'istio-system',
    });
    expect(from[2]?.namespaceSelector?.matchLabels).toEqual({ 'kubernetes.io/metadata.name': 'monitoring' });
  });

  it('the demo Redis keeps an append-only file and is the server REDIS_URL', () => {
    const sts = one<IStatefulSet>(rendered.default, 'StatefulSet');
    const args = sts.spec?.template.spec?.containers[0]?.args ?? [];
    expect(args.slice(args.indexOf('--appendonly'), args.indexOf('--appendonly') + 2)).toEqual([
      '--appendonly',
      'yes',
    ]);
    expect(config(rendered.default).REDIS_URL).toBe('redis://rel-chat-redis:6379');
    expect(sts.spec?.volumeClaimTemplates).toBeUndefined();
    expect(
      one<IStatefulSet>(rendered['istio-hpa'], 'StatefulSet').spec?.volumeClaimTemplates?.[0]?.spec?.resources
        ?.requests?.storage,
    ).toBe('2Gi');
  });

  it('more than one replica without Redis is refused; one replica runs the in-memory broker', () => {
    const run = template({ set: { 'redis.embedded.enabled': false } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('in-memory broker serves one replica only');
    expect(config(rendered['single-replica']).REDIS_URL).toBeUndefined();
    expect(server(rendered['single-replica']).env?.some((e) => e.name === 'REDIS_URL')).toBe(false);
  });

  it('helm test: a hook Pod runs the probe from the server image against the Service', () => {
    for (const name of ['default', 'istio-hpa'] as const) {
      const docs = rendered[name];
      const pod = one<IPod>(docs, 'Pod');
      expect(pod.metadata?.annotations?.['helm.sh/hook']).toBe('test');
      const c = pod.spec?.containers[0];
      expect(c?.image).toBe(server(docs).image);
      expect(pod.spec?.restartPolicy).toBe('Never');
      const line = [...(c?.command ?? []), ...(c?.args ?? [])].join(' ');
      expect(line).toContain('dist/probe.js');
      expect(line).toMatch(/--url[ =]ws:\/\/rel-chat:8080\/ws/);
      expect(c?.env?.find((e) => e.name === 'TOKEN_SECRET')?.valueFrom?.secretKeyRef).toEqual(
        server(docs).env?.find((e) => e.name === 'TOKEN_SECRET')?.valueFrom?.secretKeyRef,
      );
      expect(c?.env?.find((e) => e.name === 'TOKEN_ISSUER')?.value).toBe(configOf(docs).TOKEN_ISSUER);
    }
    // Under Istio the probe stops its sidecar when done, or the pod would never complete.
    const istioPod = one<IPod>(rendered['istio-hpa'], 'Pod');
    expect(istioPod.spec?.containers[0]?.args?.join(' ')).toContain('quitquitquit');
    expect(render({ includeTests: false }).some((d) => d.kind === 'Pod')).toBe(false);
  });
});
