import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Cluster,
  PROMETHEUS_INSTALL_HINT,
  PrometheusServer,
  prometheusAvailable,
  startCluster,
} from '@chat/cluster';
import { Fleet } from '@chat/cluster/fleet';
import { fetchToken, ProtocolClient, until } from '@chat/testkit';
import type { IConfigMap } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, ofKind, render } from './helm.js';
import { type Rule, ruleGroups } from './rules.js';

/**
 * The rendered dashboard and alerts against a real Prometheus scraping a small local cluster
 * under traffic, with a drain (held past its window by a send in flight while Redis is paused)
 * and a Redis outage, so the drain and broker series exist. Every
 * dashboard query (and template variable) must return data; every alert expression must
 * return its pods when its condition holds (thresholds lowered through the chart's values so
 * a 30-client cluster reaches them) and nothing in the healthy cluster at the defaults.
 */
if (!prometheusAvailable()) throw new Error(PROMETHEUS_INSTALL_HINT);

const NAMESPACE = 'chat';
/** `$__rate_interval` stand-in: long enough to hold the drain and the outage of this run. */
const RATE_INTERVAL = '2m';
const fullname = (docs: Manifest[]) => docs.find((d) => d.kind === 'Deployment')?.metadata.name ?? '';

interface Target {
  expr: string;
  legendFormat?: string;
}
interface Panel {
  type: string;
  title: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: { query: string } | string;
  allValue?: string;
  current?: { value?: string | string[] };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

export function dashboardOf(docs: Manifest[]): Dashboard {
  const cm = ofKind<IConfigMap>(docs, 'ConfigMap').find((c) => c.metadata?.name?.endsWith('-dashboard'));
  const json = Object.values(cm?.data ?? {})[0];
  if (!json) throw new Error('no dashboard ConfigMap rendered (grafanaDashboard.enabled)');
  return JSON.parse(json) as Dashboard;
}

/** Every query panel (rows flattened). */
const queryPanels = (d: Dashboard): Panel[] =>
  d.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

/**
 * Grafana's substitution for a `$pod` = All, `$namespace` = the release's namespace view:
 * the variables' own values from the rendered dashboard (All is its allValue, the release's
 * pod regex), `$__rate_interval` a fixed window.
 */
function substitute(expr: string, d: Dashboard): string {
  const vars = new Map(d.templating.list.map((v) => [v.name, v]));
  const ns = vars.get('namespace')?.current?.value;
  const pod = vars.get('pod')?.allValue;
  if (typeof ns !== 'string' || !pod) throw new Error('dashboard without namespace/pod variables');
  const out = expr
    .replaceAll('$__rate_interval', RATE_INTERVAL)
    .replaceAll('$namespace', ns)
    .replaceAll('$pod', pod);
  if (out.includes('$')) throw new Error(`unsubstituted variable in ${out}`);
  return out;
}

/** `label_values(<selector>, <label>)` as the series query Grafana sends. */
function variableSelector(v: Variable): string {
  const q = typeof v.query === 'string' ? v.query : v.query?.query;
  const m = /^label_values\((.+), *([a-z_]+)\)$/.exec(q ?? '');
  if (!m?.[1]) throw new Error(`variable ${v.name}: not a label_values query: ${q}`);
  return m[1];
}

describe('the rendered dashboard and alerts against Prometheus scraping a local cluster', () => {
  const docs = render({
    namespace: NAMESPACE,
    set: { 'grafanaDashboard.enabled': true, 'prometheusRule.enabled': true },
  });
  /** Thresholds this small cluster reaches: drain past 1 s, any reconnect, above 5 sockets. */
  const triggered = render({
    namespace: NAMESPACE,
    set: {
      'prometheusRule.enabled': true,
      'drain.windowSeconds': 1,
      'prometheusRule.drainOverrun.graceSeconds': 0,
      'prometheusRule.reconnectStorm.ratioPerMinute': 0,
      'prometheusRule.reconnectStorm.minPerSecond': 0,
      'server.limits.maxConnections': 10,
      'prometheusRule.nearMaxConnections.percent': 50,
    },
  });
  const dashboard = dashboardOf(docs);
  const alerts = new Map(
    ruleGroups(triggered)
      .flatMap((g) => g.rules)
      .map((r): [string, Rule] => [r.alert ?? '', r]),
  );
  const defaults = ruleGroups(docs).flatMap((g) => g.rules);
  let cluster: Cluster;
  let prometheus: PrometheusServer;
  let fleet: Fleet;
  let load: { stop(): Promise<void> } | undefined;
  const pods = () => new Set(cluster.podNames());
  /** Pods (of those running) an expression returns. */
  const podsOf = async (expr: string) => (await prometheus.query(expr)).map((s) => s.metric.pod ?? '');

  beforeAll(async () => {
    cluster = await startCluster({
      pods: 3,
      prometheus: true,
      namespace: NAMESPACE,
      podPrefix: `${fullname(docs)}-6d4cf56db6`,
      env: {
        REBALANCE_ENABLED: 'true',
        // The triggered rules' drain window (drain.windowSeconds 1).
        DRAIN_WINDOW_MS: '1000',
        SHUTDOWN_TIMEOUT_MS: '10000',
        HEARTBEAT_MS: '10000',
      },
    });
    prometheus = cluster.prometheus as PrometheusServer;
    fleet = new Fleet(cluster.url, { rooms: ['o1', 'o2', 'o3'], prefix: 'obs', concurrency: 30 });
    await fleet.grow(30);
    load = fleet.sendLoad(20);
    await until(
      async () => (await podsOf(`chat_connections_active{namespace="${NAMESPACE}"}`)).length === 3,
      'Prometheus scraping the 3 pods',
      15_000,
    );
  }, 60_000);
  afterAll(async () => {
    await load?.stop();
    fleet?.close();
    await cluster?.stop();
  });

  it('a healthy cluster under traffic fires none of the alerts at the chart defaults', async () => {
    await expect
      .poll(
        async () => (await prometheus.query('sum(rate(chat_messages_acked_total[10s]))'))[0]?.value ?? 0,
        {
          timeout: 15_000,
        },
      )
      .toBeGreaterThan(0);
    for (const rule of defaults) expect(await prometheus.query(rule.expr), rule.alert).toEqual([]);
  });

  it('near MAX_CONNECTIONS: every pod above 5 of 10 sockets is returned', async () => {
    const rule = alerts.get('ChatNearMaxConnections') as Rule;
    await expect
      .poll(async () => new Set(await podsOf(rule.expr)), { timeout: 15_000 })
      .toEqual(
        new Set(
          cluster
            .pods()
            .filter((p) => p.connections > 5)
            .map((p) => p.id),
        ),
      );
    expect((await podsOf(rule.expr)).length).toBeGreaterThan(0);
  });

  it('drain overrun: the draining pod is returned while a socket with a send in flight keeps it past the window', async () => {
    const rule = alerts.get('ChatDrainOverrun') as Rule;
    expect(await podsOf(rule.expr)).toEqual([]);
    const pod = cluster.podHandles()[0];
    if (!pod) throw new Error('no pod');
    const raw = await ProtocolClient.connect(
      `ws://127.0.0.1:${pod.port}/ws`,
      await fetchToken(cluster.url, 'obs-drain'),
    );
    await raw.join('o1');
    // Redis stops answering: the send stays in flight, and a drain closes a socket only once
    // its sends are acked (or fail at the 3 s command timeout), so this pod outlasts 1 s.
    cluster.pauseRedis();
    const seen = new Set<string>();
    let deleted: Promise<unknown> | undefined;
    try {
      raw.send({ type: 'send', room: 'o1', clientMsgId: 'obs-drain-1', text: 'in flight' });
      deleted = cluster.deletePod(pod.id, { replace: false });
      await expect
        .poll(
          async () => {
            for (const p of await podsOf(rule.expr)) seen.add(p);
            return [...seen];
          },
          { timeout: 8000, interval: 200 },
        )
        .toEqual([pod.id]);
    } finally {
      cluster.resumeRedis();
      await deleted;
      raw.ws.terminate();
    }
    // The drained pod is gone: nothing is returned any more.
    await expect.poll(async () => podsOf(rule.expr), { timeout: 10_000 }).toEqual([]);
  }, 30_000);

  it('reconnect storm: the drain wave is returned for the namespace', async () => {
    const rule = alerts.get('ChatReconnectStorm') as Rule;
    await expect
      .poll(async () => (await prometheus.query(rule.expr)).map((s) => s.metric.namespace), {
        timeout: 10_000,
      })
      .toEqual([NAMESPACE]);
  });

  it('broker unhealthy: every pod is returned while Redis is down, none once it is back', async () => {
    const rule = alerts.get('ChatBrokerUnhealthy') as Rule;
    // (Redis was paused in the drain test: its pods report the broker back within a scrape.)
    await expect.poll(async () => podsOf(rule.expr), { timeout: 10_000 }).toEqual([]);
    const pod = cluster.podHandles()[0];
    if (!pod) throw new Error('no pod');
    const raw = await ProtocolClient.connect(
      `ws://127.0.0.1:${pod.port}/ws`,
      await fetchToken(cluster.url, 'obs-raw'),
    );
    try {
      await raw.join('o1');
      await cluster.stopRedis();
      await expect.poll(async () => new Set(await podsOf(rule.expr)), { timeout: 15_000 }).toEqual(pods());
      // A send while Redis is away is answered unavailable (the dashboard's broker errors).
      raw.send({ type: 'send', room: 'o1', clientMsgId: 'obs-outage-1', text: 'during the outage' });
      await raw.next('error', (e) => e.code === 'unavailable' || e.code === 'outcome_unknown');
      await expect
        .poll(async () => (await prometheus.query('chat_error_frames_total{code="unavailable"}')).length, {
          timeout: 10_000,
        })
        .toBeGreaterThan(0);
    } finally {
      await cluster.startRedis();
      raw.ws.terminate();
    }
    await expect.poll(async () => podsOf(rule.expr), { timeout: 20_000 }).toEqual([]);
  }, 60_000);

  it('every dashboard panel query and template variable returns data', async () => {
    expect(dashboard.title).toBe(`Chat: ${fullname(docs)} (${NAMESPACE})`);
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const selector = substitute(variableSelector(v), dashboard);
      expect((await prometheus.query(selector)).length, `variable ${v.name}: ${selector}`).toBeGreaterThan(0);
    }
    // A server close on a pod that stays (the drained pod's 1012s may end with its last scrape
    // under load): 1008 after PROTOCOL_ERROR_CLOSE_AFTER (10) invalid frames.
    const pod = cluster.podHandles()[0];
    if (!pod) throw new Error('no pod');
    const raw = await ProtocolClient.connect(
      `ws://127.0.0.1:${pod.port}/ws`,
      await fetchToken(cluster.url, 'obs-invalid'),
    );
    for (let i = 0; i < 12; i++) raw.ws.send('not a frame');
    expect((await raw.closed).code).toBe(1008);
    const panels = queryPanels(dashboard);
    expect(panels.length).toBeGreaterThanOrEqual(10);
    for (const panel of panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const t of panel.targets ?? []) {
        const expr = substitute(t.expr, dashboard);
        // Within a few scrapes of the events above.
        await expect
          .poll(async () => (await prometheus.query(expr)).length, {
            timeout: 5000,
            message: `${panel.title} / ${t.legendFormat}: ${expr}`,
          })
          .toBeGreaterThan(0);
      }
    }
    // No double counting: the panel total is the sockets really open.
    const total = panels
      .flatMap((p) => p.targets ?? [])
      .find((t) => t.legendFormat === 'total' && t.expr.includes('chat_connections_active'));
    const open = cluster.pods().reduce((n, p) => n + p.connections, 0);
    await expect
      .poll(async () => (await prometheus.query(substitute(total?.expr ?? '', dashboard)))[0]?.value, {
        timeout: 10_000,
      })
      .toBe(open);
  });
  it('a pod scraped twice (two jobs, as annotations plus a ServiceMonitor) counts once in every query', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chat-prometheus-twice-'));
    const twice = new PrometheusServer({ dir, jobs: 2 });
    try {
      await twice.start(cluster.scrapeTargets());
      const live = cluster.pods().length;
      await until(
        async () => (await twice.query('chat_connections_active')).length === 2 * live,
        'every pod scraped under both jobs',
        15_000,
      );
      const open = cluster.pods().reduce((n, p) => n + p.connections, 0);
      expect((await twice.query('sum(chat_connections_active)'))[0]?.value).toBe(2 * open);
      const targets = queryPanels(dashboard).flatMap((p) => p.targets ?? []);
      const total = targets.find(
        (t) => t.legendFormat === 'total' && t.expr.includes('chat_connections_active'),
      );
      expect((await twice.query(substitute(total?.expr ?? '', dashboard)))[0]?.value).toBe(open);
      const perPod = await twice.query(substitute(targets[0]?.expr ?? '', dashboard));
      expect(Object.fromEntries(perPod.map((x) => [x.metric.pod, x.value]))).toEqual(
        Object.fromEntries(cluster.pods().map((p) => [p.id, p.connections])),
      );
      // Every panel query and alert expression aggregates the scrape identity away.
      const exprs = [
        ...targets.map((t) => substitute(t.expr, dashboard)),
        ...[...alerts.values()].map((r) => r.expr),
      ];
      for (const expr of exprs)
        for (const sample of await twice.query(expr)) {
          expect(sample.metric.job, expr).toBeUndefined();
          expect(sample.metric.instance, expr).toBeUndefined();
        }
      // The near-max alert returns each pod once, not once per job.
      const near = await twice.query(alerts.get('ChatNearMaxConnections')?.expr ?? '');
      expect(near.length).toBe(new Set(near.map((x) => x.metric.pod)).size);
    } finally {
      await twice.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
