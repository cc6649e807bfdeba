import type { IPod, IServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import {
  configOf,
  deployment,
  names,
  podSpec,
  podSpecs,
  preStopSeconds,
  rendered,
  server,
} from './fixtures.js';
import { countKinds, type Manifest, one, render, template } from './helm.js';
import { validateManifest } from './models.js';

describe('every rendered document is a valid Kubernetes / Istio / KEDA / prometheus-operator / Gateway API object', () => {
  it.each(names)('%s', (name) => {
    const docs = rendered(name);
    expect(docs.length).toBeGreaterThan(5);
    for (const doc of docs) validateManifest(doc);
    const ids = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    for (const d of docs) {
      expect(d.metadata.labels?.['app.kubernetes.io/instance'], `${d.kind} labels`).toBe('rel');
      expect(d.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
      // Explicit namespace: `helm template | kubectl apply` and GitOps never land in "default".
      expect((d.metadata as { namespace?: string }).namespace, `${d.kind}/${d.metadata.name}`).toBe('chat');
    }
  });

  it('the validation is not a no-op: a broken or misspelt document is rejected', () => {
    const hpa = one<Manifest>(rendered('istio-hpa'), 'HorizontalPodAutoscaler');
    const broken = structuredClone(hpa) as Manifest & { spec: { maxReplicas: unknown } };
    broken.spec.maxReplicas = 'many';
    expect(() => validateManifest(broken)).toThrow(/maxReplicas/);
    const vs = structuredClone(one<Manifest>(rendered('istio-hpa'), 'VirtualService')) as Manifest & {
      spec: { http: Record<string, unknown>[] };
    };
    (vs.spec.http[0] as { timeout: unknown }).timeout = 0;
    expect(() => validateManifest(vs)).toThrow(/timeout/);
    // Unknown fields in custom resources are errors, as on an API server with strict field validation.
    const typo = structuredClone(one<Manifest>(rendered('istio-hpa'), 'VirtualService')) as Manifest & {
      spec: { http: Record<string, unknown>[] };
    };
    (typo.spec.http[0] as Record<string, unknown>).timeuot = '1s';
    expect(() => validateManifest(typo)).toThrow(/unknown field "timeuot"/);
    const so = structuredClone(one<Manifest>(rendered('keda'), 'ScaledObject')) as Manifest & {
      spec: Record<string, unknown>;
    };
    so.spec.cooldownPeriods = 300;
    expect(() => validateManifest(so)).toThrow(/unknown field "cooldownPeriods"/);
  });
});

describe('resource counts per scenario', () => {
  it.each([
    [
      'default',
      {
        ConfigMap: 1,
        Deployment: 1,
        NetworkPolicy: 3,
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
        NetworkPolicy: 3,
        PeerAuthentication: 1,
        Pod: 1,
        PodDisruptionBudget: 1,
        Service: 3,
        ServiceAccount: 1,
        ServiceMonitor: 1,
        StatefulSet: 1,
        VirtualService: 1,
      },
    ],
    [
      'keda',
      {
        ConfigMap: 2,
        Deployment: 1,
        NetworkPolicy: 2,
        Pod: 1,
        PodDisruptionBudget: 1,
        PodMonitor: 1,
        Role: 1,
        RoleBinding: 1,
        ScaledObject: 1,
        Service: 1,
        ServiceAccount: 1,
      },
    ],
    [
      'single-replica',
      { ConfigMap: 1, Deployment: 1, NetworkPolicy: 1, Secret: 1, Service: 1, ServiceAccount: 1 },
    ],
    [
      'ambient-gateway-api',
      {
        ConfigMap: 1,
        Deployment: 1,
        DestinationRule: 1,
        HTTPRoute: 1,
        NetworkPolicy: 3,
        PeerAuthentication: 1,
        Pod: 1,
        PodDisruptionBudget: 1,
        ScaledObject: 1,
        Service: 2,
        ServiceAccount: 1,
        StatefulSet: 1,
      },
    ],
    [
      'nginx',
      {
        ConfigMap: 1,
        Deployment: 1,
        Ingress: 1,
        NetworkPolicy: 2,
        Pod: 1,
        PodDisruptionBudget: 1,
        ScaledObject: 1,
        Service: 1,
        ServiceAccount: 1,
      },
    ],
  ] as const)('%s', (name, counts) => {
    expect(countKinds(rendered(name))).toEqual(counts);
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
    check(rendered(name));
  });

  it('defaults: 10 s preStop, 20 s window, 30 s deadline, 45 s grace', () => {
    expect(check(rendered('default'))).toEqual({
      grace: 45,
      preStop: 10,
      drainMs: 20_000,
      shutdownMs: 30_000,
    });
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
    const c = server(rendered('single-replica'));
    expect(c.lifecycle?.preStop?.sleep?.seconds).toBe(10);
    expect(c.lifecycle?.preStop?.exec).toBeUndefined();
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
      'LOG_FORMAT',
      'REDIS_URL',
      'REDIS_PREFIX',
      'REDIS_SENTINELS',
      'REDIS_SENTINEL_NAME',
      'REDIS_CLUSTER_NODES',
      'TOKEN_ISSUER',
      'TOKEN_AUDIENCE',
      'ALLOWED_ORIGINS',
      'CSP_CONNECT_SRC',
      'AUTH_JWKS_URL',
      'AUTH_JWKS_ISSUER',
      'AUTH_JWKS_AUDIENCE',
    ];
    for (const name of names) {
      for (const [key, value] of Object.entries(configOf(rendered(name)))) {
        if (['DEV_TOKENS', 'REBALANCE_ENABLED', 'REDIS_TLS', 'REDIS_SENTINEL_TLS'].includes(key))
          expect(value, key).toMatch(/^(true|false)$/);
        // Never "true" (anyone may choose their address): nobody, or a hop count.
        else if (key === 'TRUST_PROXY') expect(value, key).toMatch(/^(false|\d{1,2})$/);
        else if (key === 'READINESS_BROKER') expect(value, key).toMatch(/^(startup|always)$/);
        else if (!strings.includes(key)) expect(value, key).toMatch(/^\d+$/);
      }
    }
  });
});

describe('probes, rollout and identity', () => {
  it('startup and liveness on /livez, readiness on /readyz, all on the http port', () => {
    const c = server(rendered('default'));
    expect(c.startupProbe?.httpGet?.path).toBe('/livez');
    expect(c.livenessProbe?.httpGet?.path).toBe('/livez');
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    for (const p of [c.startupProbe, c.livenessProbe, c.readinessProbe])
      expect(p?.httpGet?.port).toBe('http');
    expect(c.ports?.[0]).toMatchObject({ name: 'http', containerPort: 8080 });
  });

  it('a roll starts the new pod before stopping an old one', () => {
    const d = deployment(rendered('default'));
    expect(d.spec?.strategy?.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    expect(d.spec?.replicas).toBe(3);
  });

  it('NODE_ID is the pod name; NODE_ENV is production; the ConfigMap is loaded whole', () => {
    const c = server(rendered('default'));
    expect(c.env?.find((e) => e.name === 'NODE_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(c.envFrom?.[0]?.configMapRef?.name).toBe('rel-chat');
    expect(configOf(rendered('default')).NODE_ENV).toBe('production');
  });

  it('topology spread over zones and nodes, per rollout', () => {
    const spread = podSpec(rendered('default')).topologySpreadConstraints ?? [];
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
    const a = annotations(rendered('default'));
    const b = annotations(render({ set: { 'server.logLevel': 'debug' } }));
    expect(a['checksum/config']).toMatch(/^[a-f0-9]{64}$/);
    expect(a['checksum/secret']).toMatch(/^[a-f0-9]{64}$/);
    expect(b['checksum/config']).not.toBe(a['checksum/config']);
  });

  it('ServiceAccount exists with its token not mounted', () => {
    const sa = one<IServiceAccount>(rendered('default'), 'ServiceAccount');
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(podSpec(rendered('default')).serviceAccountName).toBe(sa.metadata?.name);
    expect(podSpec(rendered('default')).automountServiceAccountToken).toBe(false);
  });
});

describe('security: nothing runs as root, the root filesystem is read-only', () => {
  it.each(names)('%s: every container of every pod template', (name) => {
    const specs = podSpecs(rendered(name));
    expect(specs.length).toBeGreaterThan(0);
    for (const [where, spec] of specs) {
      expect(spec.automountServiceAccountToken, where).toBe(false);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const sc = c.securityContext ?? {};
        const pod = spec.securityContext ?? {};
        const label = `${where} container ${c.name}`;
        expect(sc.runAsNonRoot ?? pod.runAsNonRoot, label).toBe(true);
        const uid = sc.runAsUser ?? pod.runAsUser;
        // A high uid (>= 10000) never collides with a host user.
        expect(uid, label).toBeGreaterThanOrEqual(10_000);
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

describe('helm test', () => {
  it('a hook Pod runs the probe from the server image against the Service', () => {
    for (const name of ['default', 'istio-hpa', 'demo'] as const) {
      const docs = rendered(name);
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
    // A regular-container sidecar must be stopped by the probe, or the pod never completes; a
    // native sidecar is stopped by the kubelet.
    const legacy = one<IPod>(rendered('istio-hpa'), 'Pod');
    expect(legacy.spec?.containers[0]?.args?.join(' ')).toContain('quitquitquit');
    const native = one<IPod>(rendered('demo'), 'Pod');
    expect(JSON.stringify(native.spec)).not.toContain('quitquitquit');
    expect(native.metadata?.annotations?.['sidecar.istio.io/nativeSidecar']).toBe('true');
    expect(render({ includeTests: false }).some((d) => d.kind === 'Pod')).toBe(false);
  });
});
