import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartDir, helm, helmScript, scenarioArgs, scenarioNames, template } from './helm.js';

const valuesFile = (text: string): string => {
  const dir = mkdtempSync(join(tmpdir(), 'chat-chart-'));
  const file = join(dir, 'values.yaml');
  writeFileSync(file, text);
  return file;
};

describe('helm lint --strict', () => {
  it.each(scenarioNames)('%s values', (name) => {
    const run = helm(['lint', '--strict', chartDir, ...scenarioArgs(name)]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('0 chart(s) failed');
    expect(run.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it('fails for values the schema rejects', () => {
    const run = helm([
      'lint',
      '--strict',
      chartDir,
      '-f',
      valuesFile('replicaCount: "three"\nunknownKey: 1\n'),
      ...scenarioArgs('default'),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(/replicaCount/);
  });
});

describe('values.schema.json rejects', () => {
  const rejected = (args: {
    set?: Record<string, string | number | boolean>;
    setString?: Record<string, string>;
  }) => {
    const run = template(args);
    expect(run.code, run.stdout.slice(0, 200)).not.toBe(0);
    return run.stderr;
  };

  it('a wrong type (string for an integer)', () => {
    expect(rejected({ setString: { replicaCount: 'three' } })).toMatch(/replicaCount/);
    expect(rejected({ setString: { 'drain.windowSeconds': 'twenty' } })).toMatch(/windowSeconds/);
    expect(rejected({ setString: { 'istio.enabled': 'yes' } })).toMatch(/istio/);
  });

  it('an unknown key, at the top level and nested', () => {
    expect(rejected({ set: { replicaCont: 3 } })).toMatch(/replicaCont/);
    expect(rejected({ set: { 'autoscaling.hpa.enable': true } })).toMatch(/enable/);
    expect(rejected({ set: { 'server.limits.maxConnection': 5 } })).toMatch(/maxConnection/);
  });

  it('a token secret shorter than 32 characters', () => {
    expect(rejected({ set: { 'auth.tokenSecret': 'a'.repeat(31) } })).toMatch(/tokenSecret/);
  });

  it('an unknown mesh mode, scrape path or ingress kind', () => {
    expect(rejected({ set: { 'istio.sidecarMode': 'sidecar' } })).toMatch(/sidecarMode/);
    expect(rejected({ set: { 'metrics.scrape': 'both' } })).toMatch(/scrape/);
    expect(rejected({ set: { 'ingress.kind': 'traefik' } })).toMatch(/kind/);
  });

  it('running as root or with a writable root filesystem', () => {
    expect(rejected({ set: { 'securityContext.runAsNonRoot': false } })).toMatch(/runAsNonRoot/);
    expect(rejected({ set: { 'podSecurityContext.runAsUser': 0 } })).toMatch(/runAsUser/);
    expect(rejected({ set: { 'securityContext.readOnlyRootFilesystem': false } })).toMatch(
      /readOnlyRootFilesystem/,
    );
  });

  it('values that would break the drain or the mesh', () => {
    expect(rejected({ set: { 'drain.shutdownMarginSeconds': 0 } })).toMatch(/shutdownMarginSeconds/);
    expect(rejected({ set: { 'autoscaling.scaleDown.pods': 3 } })).toMatch(/pods/);
    expect(rejected({ set: { 'istio.virtualService.retryOn': 'connect-failure' } })).toMatch(/retryOn/);
    expect(rejected({ set: { 'service.portName': 'ws' } })).toMatch(/portName/);
    expect(rejected({ set: { 'redis.url': 'http://redis:6379' } })).toMatch(/url/);
    expect(
      rejected({ set: { 'server.extraEnv[0].name': 'TOKEN_SECRET', 'server.extraEnv[0].value': 'x' } }),
    ).toMatch(/extraEnv/);
  });

  it('accepts the documented alternatives', () => {
    const alternatives: Record<string, string | number | boolean>[] = [
      { 'service.appProtocol': 'kubernetes.io/ws' },
      { 'istio.peerAuthentication.mode': 'PERMISSIVE', 'istio.enabled': true },
      { 'image.digest': `sha256:${'a'.repeat(64)}` },
    ];
    for (const set of alternatives) {
      const run = template({ set });
      expect(run.code, run.stderr).toBe(0);
    }
  });
});

describe('scripts/helm.sh and the supported Kubernetes versions', () => {
  it('runs Helm from any working directory', () => {
    const run = spawnSync('bash', [helmScript, 'version', '--short'], { cwd: tmpdir(), encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^v[34]\.\d+\.\d+/);
  });

  it('renders for the oldest supported Kubernetes (1.29, native sidecars) and refuses an older one', () => {
    expect(template({ kubeVersion: '1.29.0' }).code).toBe(0);
    const old = template({ kubeVersion: '1.28.9' });
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/kubeVersion|incompatible/i);
  });
});

describe('NOTES.txt', () => {
  const notes = (name: string, extra: string[] = []) => {
    const run = helm([
      'install',
      'rel',
      chartDir,
      '-n',
      'chat',
      '--dry-run=client',
      ...scenarioArgs(name),
      ...extra,
    ]);
    return { ...run, notes: run.stdout.slice(run.stdout.indexOf('NOTES:')) };
  };

  it('states the drain numbers, the demo Redis warning and the autoscaler in use', (ctx) => {
    const byDefault = notes('default');
    // Helm 3 still dials the cluster for --dry-run=client; Helm 4 (what scripts/helm.sh fetches) does not.
    if (byDefault.code !== 0 && /cluster unreachable/i.test(byDefault.stderr)) {
      ctx.skip('this Helm needs a cluster to render NOTES.txt');
    }
    expect(byDefault.code, byDefault.stderr).toBe(0);
    expect(byDefault.notes).toContain('DRAIN_WINDOW_MS=20000');
    expect(byDefault.notes).toContain('terminationGracePeriodSeconds=45');
    expect(byDefault.notes).toMatch(/WARNING: using the embedded single-pod Redis/);
    expect(byDefault.notes).toContain('Fixed at 3 replicas');
    expect(byDefault.notes).toContain('/metrics is served on its own port 9090');
    expect(byDefault.notes).not.toContain('DEV_TOKENS');
    const istio = notes('istio-hpa').notes;
    expect(istio).toContain('https://chat.example.com/');
    expect(istio).toContain("seriesQuery: 'chat_connections_active");
    expect(istio).toContain('STRICT except on port 9090');
    const keda = notes('keda').notes;
    expect(keda).toContain('KEDA ScaledObject');
    expect(keda).toContain('ignoreNullValues "false"');
    expect(keda).toContain('Secret chat-auth');
    expect(keda).toContain('pod-deletion-cost');
    expect(keda).not.toContain('DEV_TOKENS');
  });

  it('warns loudly, first thing, when DEV_TOKENS is on', () => {
    const demo = notes('demo').notes;
    const lines = demo.split('\n').filter((l) => l.trim() !== '');
    expect(lines[1]).toMatch(/^\*{20,}$/);
    expect(lines[2]).toMatch(/^WARNING: DEV_TOKENS IS ON\. POST \/api\/token signs a token for anyone/);
  });

  it('tells the truth about the sidecar drain for each Istio mode', () => {
    const native = notes('demo').notes;
    expect(native).toMatch(
      /native sidecar: the kubelet stops istio-proxy only after the server container has exited/,
    );
    expect(native).toMatch(
      /terminationDrainDuration,\s+EXIT_ON_ZERO_ACTIVE_CONNECTIONS, MINIMUM_DRAIN_DURATION and holdApplicationUntilProxyStarts do not\s+apply/,
    );
    expect(native).not.toMatch(/outlasts/);
    const legacy = notes('istio-hpa').notes;
    // drain 15 + 30 (istio-hpa values); grace 15 + 30 + 10 + 5.
    expect(legacy).toMatch(/MINIMUM_DRAIN_DURATION=45s/);
    expect(legacy).toMatch(/pilot-agent then ignores\s+terminationDrainDuration/);
    expect(legacy).toMatch(/at the latest at terminationGracePeriodSeconds=60/);
    const sleeping = notes('istio-hpa', ['--set', 'istio.exitOnZeroActiveConnections=false']).notes;
    expect(sleeping).toMatch(/exits after\s+terminationDrainDuration=55s/);
    const ambient = notes('ambient-gateway-api').notes;
    expect(ambient).toMatch(/Istio ambient: no sidecar/);
    expect(ambient).not.toMatch(/terminationDrainDuration|MINIMUM_DRAIN/);
  });
});
