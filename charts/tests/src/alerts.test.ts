import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { render } from './helm.js';
import { type RuleGroup, ruleGroups } from './rules.js';

/**
 * The chart's alerts under `promtool test rules`: the rule groups are taken from the rendered
 * PrometheusRule (never a copy), each alert gets input series that must fire it and series that
 * must not, and a failing promtool fails the test (checked by a test that expects a wrong alert).
 * promtool comes with Debian's prometheus package (scripts/preflight.mjs installs it).
 */
const promtoolMissing = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status !== 0;
if (promtoolMissing)
  throw new Error('promtool is not installed: `apt-get install prometheus` (scripts/preflight.mjs does it)');

const POD = (s: string) => `rel-chat-6d4cf56db6-${s}`;
const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`,
  values,
});
const at = (pod: string) => ({ namespace: 'chat', pod: POD(pod) });

interface Expected {
  labels: Record<string, string>;
}
interface AlertCase {
  alertname: string;
  evalTime: string;
  firing: Expected[];
}
interface PromtoolTest {
  name: string;
  interval: string;
  input: ReturnType<typeof series>[];
  alerts: AlertCase[];
}

/** `{{ $labels.x }}` filled in from the alert's labels, as Prometheus expands it. */
function expand(template: string, labels: Record<string, string>): string {
  const out = template.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_, k: string) => labels[k] ?? '');
  if (out.includes('{{')) throw new Error(`unexpanded template in ${JSON.stringify(template)}`);
  return out;
}

/** Writes the rule file and the test file, runs promtool; the caller asserts on the result. */
function promtool(groups: RuleGroup[], tests: PromtoolTest[]) {
  const dir = mkdtempSync(join(tmpdir(), 'chart-alerts-'));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
  const rules = new Map(groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));
  const file = {
    rule_files: ['rules.yaml'],
    evaluation_interval: '15s',
    tests: tests.map((t) => ({
      name: t.name,
      interval: t.interval,
      input_series: t.input,
      alert_rule_test: t.alerts.map((a) => {
        const rule = rules.get(a.alertname);
        if (!rule) throw new Error(`no alert ${a.alertname} rendered`);
        return {
          eval_time: a.evalTime,
          alertname: a.alertname,
          exp_alerts: a.firing.map((f) => {
            const labels = { ...rule.labels, ...f.labels };
            return {
              exp_labels: labels,
              exp_annotations: Object.fromEntries(
                Object.entries(rule.annotations ?? {}).map(([k, v]) => [k, expand(v, labels)]),
              ),
            };
          }),
        };
      }),
    })),
  };
  writeFileSync(join(dir, 'tests.yaml'), stringify(file));
  const res = spawnSync('promtool', ['test', 'rules', 'tests.yaml'], { cwd: dir, encoding: 'utf8' });
  return { code: res.status ?? -1, out: `${res.stdout}${res.stderr}` };
}

const groups = ruleGroups(
  render({ set: { 'prometheusRule.enabled': true, 'prometheusRule.alertLabels.team': 'chat' } }),
);
const alertNames = groups.flatMap((g) => g.rules.map((r) => r.alert));

/** The four alerts of the issue, each firing and not firing (defaults: window 20 s + 5 s grace, ratio 0.5/min and 10/s for 5m, broker 1m, 90 % of 10000 for 5m). */
const cases: PromtoolTest[] = [
  {
    name: 'drain overrun: sockets still open 25 s after SIGTERM, only on the pod whose clients did not leave',
    interval: '15s',
    input: [
      // a and b receive SIGTERM at t=60 s; b's sockets are gone by t=75 s, a keeps 5.
      series('chat_drain_started_timestamp_seconds', at('a'), '0x3 60x20'),
      series('chat_connections_active', at('a'), '10x3 8 6 5x20'),
      series('chat_drain_started_timestamp_seconds', at('b'), '0x3 60x20'),
      series('chat_connections_active', at('b'), '10x3 5 0x20'),
      // c is serving.
      series('chat_drain_started_timestamp_seconds', at('c'), '0x25'),
      series('chat_connections_active', at('c'), '10x25'),
    ],
    alerts: [
      { alertname: 'ChatDrainOverrun', evalTime: '75s', firing: [] },
      { alertname: 'ChatDrainOverrun', evalTime: '90s', firing: [{ labels: at('a') }] },
      { alertname: 'ChatDrainOverrun', evalTime: '5m', firing: [{ labels: at('a') }] },
    ],
  },
  {
    name: 'reconnect storm: 40 accepted/s against 200 open sockets, for 5 minutes',
    interval: '15s',
    input: [
      series('chat_connections_total', at('a'), '0+300x60'),
      series('chat_connections_active', at('a'), '100x60'),
      series('chat_connections_total', at('b'), '0+300x60'),
      series('chat_connections_active', at('b'), '100x60'),
    ],
    alerts: [
      { alertname: 'ChatReconnectStorm', evalTime: '3m', firing: [] },
      { alertname: 'ChatReconnectStorm', evalTime: '10m', firing: [{ labels: { namespace: 'chat' } }] },
    ],
  },
  {
    name: 'no reconnect storm: the normal churn of 2,000 sockets (2/s), nor 5/s on a 20-socket fleet',
    interval: '15s',
    input: [
      series('chat_connections_total', at('a'), '0+15x60'),
      series('chat_connections_active', at('a'), '1000x60'),
      series('chat_connections_total', at('b'), '0+15x60'),
      series('chat_connections_active', at('b'), '1000x60'),
    ],
    alerts: [{ alertname: 'ChatReconnectStorm', evalTime: '10m', firing: [] }],
  },
  {
    name: 'no reconnect storm under the absolute floor: 6/s on 20 sockets, the pod scraped twice (max by pod counts it once)',
    interval: '15s',
    input: [
      series('chat_connections_total', { ...at('a'), job: 'annotations' }, '0+90x60'),
      series('chat_connections_total', { ...at('a'), job: 'servicemonitor' }, '0+90x60'),
      series('chat_connections_active', { ...at('a'), job: 'annotations' }, '20x60'),
      series('chat_connections_active', { ...at('a'), job: 'servicemonitor' }, '20x60'),
    ],
    alerts: [{ alertname: 'ChatReconnectStorm', evalTime: '10m', firing: [] }],
  },
  {
    name: 'broker unhealthy: one pod reports its broker down for over a minute',
    interval: '15s',
    input: [
      series('chat_broker_up', at('a'), '1x3 0x20'),
      series('chat_broker_up', at('b'), '1x23'),
      // c lost Redis for 30 s only.
      series('chat_broker_up', at('c'), '1x3 0 0 1x18'),
    ],
    alerts: [
      { alertname: 'ChatBrokerUnhealthy', evalTime: '90s', firing: [] },
      { alertname: 'ChatBrokerUnhealthy', evalTime: '3m', firing: [{ labels: at('a') }] },
    ],
  },
  {
    name: 'near MAX_CONNECTIONS: above 90 % of 10000 for 5 minutes, on that pod only',
    interval: '15s',
    input: [
      series('chat_connections_active', at('a'), '9500x40'),
      series('chat_connections_active', at('b'), '8000x40'),
      // c peaks for a minute only.
      series('chat_connections_active', at('c'), '8000x10 9900x4 8000x25'),
    ],
    alerts: [
      { alertname: 'ChatNearMaxConnections', evalTime: '4m', firing: [] },
      { alertname: 'ChatNearMaxConnections', evalTime: '10m', firing: [{ labels: at('a') }] },
    ],
  },
];

describe('PrometheusRule alerts under promtool test rules', () => {
  it('renders the four alerts of the issue, only when enabled', () => {
    expect(alertNames).toEqual([
      'ChatDrainOverrun',
      'ChatReconnectStorm',
      'ChatBrokerUnhealthy',
      'ChatNearMaxConnections',
    ]);
    expect(render({}).some((d) => d.kind === 'PrometheusRule')).toBe(false);
    for (const r of groups.flatMap((g) => g.rules)) expect(r.labels?.team, r.alert).toBe('chat');
  });

  it('promtool check rules accepts the rendered groups', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chart-alerts-'));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    const res = spawnSync('promtool', ['check', 'rules', 'rules.yaml'], { cwd: dir, encoding: 'utf8' });
    expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
    expect(res.stdout).toContain(`SUCCESS: ${alertNames.length} rules found`);
  });

  it('every alert fires on its condition and stays silent otherwise', () => {
    const covered = new Set(
      cases.flatMap((c) => c.alerts.filter((a) => a.firing.length > 0).map((a) => a.alertname)),
    );
    expect([...covered].sort()).toEqual([...alertNames].sort());
    const res = promtool(groups, cases);
    expect(res.code, res.out).toBe(0);
    expect(res.out).toContain('SUCCESS');
  });

  it('a wrong expectation fails promtool, so the run above can fail', () => {
    const wrong = structuredClone(cases.slice(4, 5));
    // Pod b never lost its broker.
    (wrong[0] as PromtoolTest).alerts[1] = {
      alertname: 'ChatBrokerUnhealthy',
      evalTime: '3m',
      firing: [{ labels: at('a') }, { labels: at('b') }],
    };
    const res = promtool(groups, wrong);
    expect(res.code).not.toBe(0);
    expect(res.out).toMatch(/FAILED/);
  });

  it('the thresholds follow the values (drain window + grace, the share of maxConnections)', () => {
    const custom = ruleGroups(
      render({
        set: {
          'prometheusRule.enabled': true,
          'drain.windowSeconds': 40,
          'prometheusRule.drainOverrun.graceSeconds': 2,
          'server.limits.maxConnections': 5000,
          'prometheusRule.nearMaxConnections.percent': 80,
        },
      }),
    ).flatMap((g) => g.rules);
    const expr = (name: string) => custom.find((r) => r.alert === name)?.expr ?? '';
    expect(expr('ChatDrainOverrun')).toMatch(/\)\)\s+> 42\s/);
    expect(expr('ChatNearMaxConnections')).toMatch(/\) > 4000$/);
  });
});
