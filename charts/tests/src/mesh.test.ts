import type {
  IDestinationRule,
  IGateway,
  IVirtualService,
} from '@kubernetes-models/istio/networking.istio.io/v1';
import type { IPeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1';
import type { IStatefulSet } from 'kubernetes-models/apps/v1';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IService } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  configOf,
  deployment,
  names,
  podSpec,
  podTemplate,
  preStopSeconds,
  rendered,
  seconds,
  server,
} from './fixtures.js';
import { type Manifest, ofKind, one, render, template } from './helm.js';

const proxyConfig = (docs: Manifest[]) => {
  const a = podTemplate(docs).metadata?.annotations?.['proxy.istio.io/config'];
  return a === undefined ? undefined : (parse(a) as Record<string, unknown>);
};

describe('Istio sidecar modes: only the drain knobs that mode uses, and the mode pinned on the pod', () => {
  it('native (default): nativeSidecar "true", no proxy drain knob at all', () => {
    const docs = render({ set: { 'istio.enabled': true } });
    const meta = podTemplate(docs).metadata;
    expect(meta?.annotations?.['sidecar.istio.io/nativeSidecar']).toBe('true');
    expect(meta?.labels?.['sidecar.istio.io/inject']).toBe('true');
    // terminationDrainDuration, EXIT_ON_ZERO_ACTIVE_CONNECTIONS, MINIMUM_DRAIN_DURATION and
    // holdApplicationUntilProxyStarts do not apply to a native sidecar: none is rendered.
    expect(proxyConfig(docs)).toBeUndefined();
    expect(JSON.stringify(deployment(docs))).not.toMatch(
      /terminationDrainDuration|EXIT_ON_ZERO|MINIMUM_DRAIN/,
    );
  });

  it('legacy with exit-on-zero: MINIMUM_DRAIN_DURATION covers preStop + window; no ignored terminationDrainDuration', () => {
    const docs = rendered('istio-hpa');
    expect(podTemplate(docs).metadata?.annotations?.['sidecar.istio.io/nativeSidecar']).toBe('false');
    const proxy = proxyConfig(docs) as {
      holdApplicationUntilProxyStarts: boolean;
      terminationDrainDuration?: string;
      proxyMetadata: Record<string, string>;
    };
    expect(proxy.holdApplicationUntilProxyStarts).toBe(true);
    expect(proxy.proxyMetadata.EXIT_ON_ZERO_ACTIVE_CONNECTIONS).toBe('true');
    // pilot-agent ignores terminationDrainDuration when EXIT_ON_ZERO_ACTIVE_CONNECTIONS is on.
    expect(proxy.terminationDrainDuration).toBeUndefined();
    const preStop = preStopSeconds(server(docs));
    const windowS = Number(configOf(docs).DRAIN_WINDOW_MS) / 1000;
    expect(seconds(proxy.proxyMetadata.MINIMUM_DRAIN_DURATION)).toBe(preStop + windowS);
    expect(seconds(proxy.proxyMetadata.MINIMUM_DRAIN_DURATION)).toBeLessThan(
      Number(podSpec(docs).terminationGracePeriodSeconds),
    );
  });

  it('legacy without exit-on-zero: terminationDrainDuration outlasts the server and ends before SIGKILL', () => {
    const docs = render({
      scenario: 'istio-hpa',
      set: { 'istio.exitOnZeroActiveConnections': false },
    });
    const proxy = proxyConfig(docs) as { terminationDrainDuration: string; proxyMetadata?: unknown };
    expect(proxy.proxyMetadata).toBeUndefined();
    const env = configOf(docs);
    const preStop = preStopSeconds(server(docs));
    const drainS = seconds(proxy.terminationDrainDuration);
    expect(drainS).toBeGreaterThanOrEqual(preStop + Number(env.SHUTDOWN_TIMEOUT_MS) / 1000);
    expect(drainS).toBeLessThan(Number(podSpec(docs).terminationGracePeriodSeconds));
  });

  it('ambient: no sidecar, the pod joins the ambient data plane', () => {
    const docs = rendered('ambient-gateway-api');
    const meta = podTemplate(docs).metadata;
    expect(meta?.labels?.['istio.io/dataplane-mode']).toBe('ambient');
    expect(meta?.labels?.['sidecar.istio.io/inject']).toBe('false');
    expect(meta?.annotations?.['sidecar.istio.io/nativeSidecar']).toBeUndefined();
    expect(proxyConfig(docs)).toBeUndefined();
  });

  it('no Istio settings unless enabled', () => {
    for (const kind of ['Gateway', 'VirtualService', 'DestinationRule', 'PeerAuthentication']) {
      expect(ofKind(rendered('default'), kind)).toHaveLength(0);
    }
    const meta = podTemplate(rendered('default')).metadata;
    expect(proxyConfig(rendered('default'))).toBeUndefined();
    expect(Object.keys(meta?.annotations ?? {}).filter((k) => k.includes('istio'))).toEqual([]);
    expect(Object.keys(meta?.labels ?? {}).filter((k) => k.includes('istio'))).toEqual([]);
  });
});

describe('Istio routing for long-lived upgraded connections', () => {
  const docs = rendered('istio-hpa');
  const vs = one<IVirtualService>(docs, 'VirtualService');

  it('VirtualService: the WebSocket route has no timeout and retries refused upgrades on 503', () => {
    const ws = vs.spec?.http?.find((r) => r.match?.some((m) => m.uri?.exact === '/ws'));
    expect(ws?.timeout).toBe('0s');
    const retryOn = (ws?.retries?.retryOn ?? '').split(',');
    expect(retryOn).toEqual(expect.arrayContaining(['connect-failure', 'refused-stream', '503']));
    expect(ws?.retries?.attempts).toBeGreaterThanOrEqual(2);
    expect(ws?.route?.[0]?.destination?.host).toBe('rel-chat.chat.svc.cluster.local');
    expect(vs.spec?.gateways).toEqual(['rel-chat', 'mesh']);
    for (const r of vs.spec?.http ?? []) if (r !== ws) expect(r.timeout).not.toBe('0s');
  });

  it('/livez, /readyz and /metrics are answered 404 by the route, before the catch-all', () => {
    const http = vs.spec?.http ?? [];
    const internal = http.findIndex((r) => r.directResponse?.status === 404);
    const catchAll = http.findIndex((r) => !r.match && r.route);
    expect(internal).toBeGreaterThanOrEqual(0);
    expect(internal).toBeLessThan(catchAll);
    expect(http[internal]?.route).toBeUndefined();
    expect(http[internal]?.match).toEqual([
      { uri: { exact: '/livez' } },
      { uri: { exact: '/readyz' } },
      { uri: { prefix: '/metrics' } },
    ]);
  });

  it('Gateway serves the hosts over HTTPS with a redirect from HTTP', () => {
    const gw = one<IGateway>(docs, 'Gateway');
    expect(gw.spec?.servers?.map((s) => s.port?.protocol)).toEqual(['HTTP', 'HTTPS']);
    expect(gw.spec?.servers?.[0]?.tls?.httpsRedirect).toBe(true);
    expect(gw.spec?.servers?.[1]?.tls?.credentialName).toBe('chat-example-com-tls');
  });

  it('DestinationRule: LEAST_REQUEST, outlier detection, HTTP/1.1 upstream, and no caps below Istio defaults', () => {
    const tp = one<IDestinationRule>(docs, 'DestinationRule').spec?.trafficPolicy;
    expect(tp?.loadBalancer?.simple).toBe('LEAST_REQUEST');
    expect(tp?.connectionPool?.http?.h2UpgradePolicy).toBe('DO_NOT_UPGRADE');
    expect(tp?.outlierDetection?.consecutiveGatewayErrors).toBeGreaterThan(0);
    expect(tp?.outlierDetection?.maxEjectionPercent).toBeLessThan(100);
    // Each socket and each reconnect is one upstream connection: Istio's default (2^32-1) stays.
    const istioDefault = 2 ** 32 - 1;
    for (const name of names) {
      for (const dr of ofKind<IDestinationRule>(rendered(name), 'DestinationRule')) {
        const pool = dr.spec?.trafficPolicy?.connectionPool;
        expect(pool?.tcp?.maxConnections ?? istioDefault, name).toBeGreaterThanOrEqual(istioDefault);
        expect(pool?.http?.http1MaxPendingRequests ?? istioDefault, name).toBeGreaterThanOrEqual(
          istioDefault,
        );
        expect(pool?.http?.http2MaxRequests ?? istioDefault, name).toBeGreaterThanOrEqual(istioDefault);
      }
    }
  });

  it('PeerAuthentication: STRICT on the server pods, PERMISSIVE on the metrics port only', () => {
    const pa = one<IPeerAuthentication>(docs, 'PeerAuthentication');
    expect(pa.spec?.mtls?.mode).toBe('STRICT');
    expect(pa.spec?.selector?.matchLabels?.['app.kubernetes.io/component']).toBe('server');
    expect(pa.spec?.portLevelMtls).toEqual({ 9090: { mode: 'PERMISSIVE' } });
    expect(String(Object.keys(pa.spec?.portLevelMtls ?? {}))).not.toContain('8080');
  });

  it('ingress.kind istio without istio.enabled is refused', () => {
    const run = template({ set: { 'ingress.kind': 'istio' } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('ingress.kind is istio: set istio.enabled');
  });
});

describe('ingress alternatives: Gateway API and ingress-nginx', () => {
  interface HTTPRoute {
    spec: {
      parentRefs: unknown[];
      hostnames: string[];
      rules: {
        matches: { path: { type: string; value: string } }[];
        backendRefs?: { name: string; port: number }[];
        timeouts?: { request?: string; backendRequest?: string };
      }[];
    };
  }

  it('HTTPRoute: /ws without request timeouts, probes/metrics on a backend-less rule, the rest to the Service', () => {
    const route = one<HTTPRoute>(rendered('ambient-gateway-api'), 'HTTPRoute');
    expect(route.spec.parentRefs).toEqual([
      { name: 'public', namespace: 'gateway-system', sectionName: 'https' },
    ]);
    expect(route.spec.hostnames).toEqual(['chat.example.com']);
    const [ws, internal, rest] = route.spec.rules;
    expect(ws?.matches).toEqual([{ path: { type: 'Exact', value: '/ws' } }]);
    expect(ws?.timeouts).toEqual({ request: '0s', backendRequest: '0s' });
    expect(ws?.backendRefs).toEqual([{ name: 'rel-chat', port: 8080 }]);
    expect(internal?.matches.map((m) => m.path.value)).toEqual(['/livez', '/readyz', '/metrics']);
    expect(internal?.backendRefs).toBeUndefined();
    expect(rest?.matches).toEqual([{ path: { type: 'PathPrefix', value: '/' } }]);
    expect(rest?.backendRefs).toEqual([{ name: 'rel-chat', port: 8080 }]);
    // No Istio gateway objects when another ingress is chosen.
    expect(ofKind(rendered('ambient-gateway-api'), 'Gateway')).toHaveLength(0);
    expect(ofKind(rendered('ambient-gateway-api'), 'VirtualService')).toHaveLength(0);
  });

  it('gatewayApi without parentRefs is refused', () => {
    const run = template({ set: { 'ingress.kind': 'gatewayApi' } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('ingress.gatewayApi.parentRefs');
  });

  it('ingress-nginx Ingress: long proxy read/send timeouts, HTTP/1.1, TLS, the Service port', () => {
    interface Ingress {
      metadata: { annotations: Record<string, string> };
      spec: {
        ingressClassName: string;
        tls: { hosts: string[]; secretName: string }[];
        rules: { host: string; http: { paths: { path: string; backend: unknown }[] } }[];
      };
    }
    const ing = one<Ingress>(rendered('nginx'), 'Ingress');
    const a = ing.metadata.annotations;
    expect(a['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('3600');
    expect(a['nginx.ingress.kubernetes.io/proxy-send-timeout']).toBe('3600');
    expect(a['nginx.ingress.kubernetes.io/proxy-http-version']).toBe('1.1');
    // Snippet annotations (disabled by default in ingress-nginx) are never needed.
    expect(Object.keys(a).some((k) => k.includes('snippet'))).toBe(false);
    expect(ing.spec.ingressClassName).toBe('nginx');
    expect(ing.spec.tls).toEqual([{ hosts: ['chat.example.com'], secretName: 'chat-example-com-tls' }]);
    expect(ing.spec.rules[0]?.http.paths[0]?.backend).toEqual({
      service: { name: 'rel-chat', port: { number: 8080 } },
    });
  });
});

describe('metrics: their own port, one scrape path, never routed', () => {
  it.each(names)(
    '%s: container port http-metrics, METRICS_PORT, and the routed Service has only the app port',
    (name) => {
      const docs = rendered(name);
      const c = server(docs);
      expect(c.ports).toEqual([
        { name: 'http', containerPort: 8080, protocol: 'TCP' },
        { name: 'http-metrics', containerPort: 9090, protocol: 'TCP' },
      ]);
      expect(configOf(docs).METRICS_PORT).toBe('9090');
      const svc = ofKind<IService>(docs, 'Service').find((s) => s.metadata?.name === 'rel-chat');
      expect(svc?.spec?.ports?.map((p) => p.targetPort)).toEqual(['http']);
      expect(svc?.spec?.ports?.[0]?.name).toMatch(/^http(-|$)/);
      expect(svc?.spec?.ports?.[0]?.appProtocol).toBe('http');
    },
  );

  it.each(names)('%s: exactly one way to scrape', (name) => {
    const docs = rendered(name);
    const annotations = podTemplate(docs).metadata?.annotations ?? {};
    const ways = [
      annotations['prometheus.io/scrape'] === 'true',
      ofKind(docs, 'PodMonitor').length > 0,
      ofKind(docs, 'ServiceMonitor').length > 0,
    ].filter(Boolean);
    expect(ways.length).toBe(1);
    if (annotations['prometheus.io/scrape']) {
      expect(annotations['prometheus.io/port']).toBe('9090');
      expect(annotations['prometheus.io/path']).toBe('/metrics');
    }
  });

  it('PodMonitor and ServiceMonitor scrape the metrics port; the ServiceMonitor through a metrics-only Service', () => {
    interface Monitor {
      spec: { podMetricsEndpoints?: { port: string }[]; endpoints?: { port: string }[]; selector: unknown };
    }
    const pm = one<Monitor>(rendered('keda'), 'PodMonitor');
    expect(pm.spec.podMetricsEndpoints?.map((e) => e.port)).toEqual(['http-metrics']);
    const docs = rendered('istio-hpa');
    const sm = one<Monitor>(docs, 'ServiceMonitor');
    expect(sm.spec.endpoints?.map((e) => e.port)).toEqual(['http-metrics']);
    const metricsSvc = ofKind<IService>(docs, 'Service').find((s) => s.metadata?.name === 'rel-chat-metrics');
    expect(metricsSvc?.spec?.clusterIP).toBe('None');
    expect(metricsSvc?.spec?.ports?.map((p) => p.port)).toEqual([9090]);
    expect(sm.spec.selector).toEqual({
      matchLabels: metricsSvc?.metadata?.labels && {
        'app.kubernetes.io/name': 'chat',
        'app.kubernetes.io/instance': 'rel',
        'app.kubernetes.io/component': 'metrics',
      },
    });
    // Nothing routes to the metrics Service.
    for (const vs of ofKind<IVirtualService>(docs, 'VirtualService')) {
      expect(JSON.stringify(vs)).not.toContain('rel-chat-metrics');
      expect(JSON.stringify(vs)).not.toContain('9090');
    }
  });

  it('the metrics port cannot be the app port', () => {
    const run = template({ set: { 'metrics.port': 8080 } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('metrics.port must differ from server.port');
  });
});

describe('NetworkPolicy', () => {
  const policy = (docs: Manifest[], name: string) =>
    ofKind<INetworkPolicy>(docs, 'NetworkPolicy').find((n) => n.metadata?.name === name);

  it('server port in, DNS and Redis out; the demo Redis only from the servers', () => {
    const srv = policy(rendered('default'), 'rel-chat');
    expect(srv?.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(srv?.spec?.ingress?.[0]?.ports?.[0]?.port).toBe('http');
    const egressPorts = (srv?.spec?.egress ?? []).flatMap((e) => e.ports?.map((p) => p.port) ?? []);
    expect(egressPorts).toEqual(expect.arrayContaining([53, 6379]));
    const redis = policy(rendered('default'), 'rel-chat-redis');
    expect(
      redis?.spec?.ingress?.[0]?.from?.[0]?.podSelector?.matchLabels?.['app.kubernetes.io/component'],
    ).toBe('server');
  });

  it('allowExternal false: the app port only from clients and the gateway; the metrics port only from Prometheus', () => {
    const srv = policy(rendered('istio-hpa'), 'rel-chat');
    const [app, metrics] = srv?.spec?.ingress ?? [];
    expect(app?.ports?.map((p) => p.port)).toEqual(['http']);
    expect(app?.from?.[0]?.podSelector?.matchLabels).toEqual({ 'rel-chat-client': 'true' });
    expect(app?.from?.[1]?.namespaceSelector?.matchLabels).toEqual({
      'kubernetes.io/metadata.name': 'istio-system',
    });
    expect(JSON.stringify(app?.from)).not.toContain('monitoring');
    expect(metrics?.ports?.map((p) => p.port)).toEqual(['http-metrics']);
    expect(metrics?.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
  });

  it('ambient: HBONE (15008) beside the app, metrics and Redis ports, kubelet probes from 169.254.7.127, no istiod egress', () => {
    const docs = rendered('ambient-gateway-api');
    const srv = policy(docs, 'rel-chat');
    const [app, metrics] = srv?.spec?.ingress ?? [];
    expect(app?.ports?.map((p) => p.port)).toEqual(['http', 15008]);
    expect(metrics?.ports?.map((p) => p.port)).toEqual(['http-metrics', 15008]);
    expect(JSON.stringify(srv?.spec?.ingress)).toContain('169.254.7.127/32');
    const redisEgress = srv?.spec?.egress?.find((e) => e.ports?.some((p) => p.port === 6379));
    expect(redisEgress?.ports?.map((p) => p.port)).toEqual([6379, 15008]);
    expect(JSON.stringify(srv?.spec?.egress)).not.toContain('15012');
    const redis = policy(docs, 'rel-chat-redis');
    expect(redis?.spec?.ingress?.[0]?.ports?.map((p) => p.port)).toEqual(['redis', 15008]);
    // Sidecar modes keep 15020/15021 and istiod instead of HBONE.
    const legacy = policy(rendered('istio-hpa'), 'rel-chat');
    expect(JSON.stringify(legacy?.spec)).not.toContain('15008');
    expect(JSON.stringify(legacy?.spec?.egress)).toContain('15012');
  });

  it('the helm test Pod has its own policy: no ingress, egress to DNS and the server only', () => {
    const test = policy(rendered('default'), 'rel-chat-test-websocket');
    expect(test?.spec?.podSelector?.matchLabels?.['app.kubernetes.io/component']).toBe('test');
    expect(test?.spec?.ingress).toBeUndefined();
    expect(test?.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    expect((test?.spec?.egress ?? []).flatMap((e) => e.ports?.map((p) => p.port) ?? [])).toEqual([
      53, 53, 8080,
    ]);
  });
});

describe('disruption and Redis', () => {
  it('PodDisruptionBudget: one server pod at a time', () => {
    const pdb = one<IPodDisruptionBudget>(rendered('default'), 'PodDisruptionBudget');
    expect(pdb.spec?.maxUnavailable).toBe(1);
    expect(pdb.spec?.selector?.matchLabels).toEqual(
      deployment(rendered('default')).spec?.selector.matchLabels,
    );
  });

  it('the demo Redis keeps an append-only file and is the server REDIS_URL', () => {
    const sts = one<IStatefulSet>(rendered('default'), 'StatefulSet');
    const args = sts.spec?.template.spec?.containers[0]?.args ?? [];
    expect(args.slice(args.indexOf('--appendonly'), args.indexOf('--appendonly') + 2)).toEqual([
      '--appendonly',
      'yes',
    ]);
    expect(configOf(rendered('default')).REDIS_URL).toBe('redis://rel-chat-redis:6379');
    expect(sts.spec?.volumeClaimTemplates).toBeUndefined();
    expect(
      one<IStatefulSet>(rendered('istio-hpa'), 'StatefulSet').spec?.volumeClaimTemplates?.[0]?.spec?.resources
        ?.requests?.storage,
    ).toBe('2Gi');
  });

  it('more than one replica without Redis is refused; one replica runs the in-memory broker', () => {
    const run = template({ set: { 'redis.embedded.enabled': false } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('in-memory broker serves one replica only');
    expect(configOf(rendered('single-replica')).REDIS_URL).toBeUndefined();
    expect(server(rendered('single-replica')).env?.some((e) => e.name === 'REDIS_URL')).toBe(false);
  });
});

describe('socket rebalancing after a scale-out', () => {
  it('on by default with Redis; the values reach the server; off without Redis (one pod, nothing to balance)', () => {
    expect(configOf(rendered('default'))).toMatchObject({
      REBALANCE_ENABLED: 'true',
      REBALANCE_INTERVAL_MS: '2000',
      REBALANCE_MARGIN_PCT: '10',
      REBALANCE_MAX_CLOSE_RATE: '20',
      REBALANCE_RECONNECT_HINT_MS: '1000',
    });
    const off = render({ set: { 'server.rebalance.enabled': false, 'server.rebalance.maxCloseRate': 50 } });
    expect(configOf(off)).toMatchObject({ REBALANCE_ENABLED: 'false', REBALANCE_MAX_CLOSE_RATE: '50' });
    // Every Redis-backed scenario has it on; the single replica on the in-memory broker renders
    // (it used to fail the render) with it off.
    for (const name of names) {
      const docs = rendered(name);
      const set = [
        ...Object.entries(configOf(docs))
          .filter(([, v]) => v !== '')
          .map(([k]) => k),
        ...(server(docs).env ?? []).map((e) => e.name),
      ];
      const redis = set.some((k) => /^REDIS_(URL|SENTINELS|CLUSTER_NODES)$/.test(k));
      expect(configOf(docs).REBALANCE_ENABLED, name).toBe(String(redis));
    }
    expect(configOf(rendered('single-replica')).REBALANCE_ENABLED).toBe('false');
  });
});
