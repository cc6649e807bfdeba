import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { crdErrors, isCustomResource } from './crd-schema.js';
import { names, rendered } from './fixtures.js';
import { chartDir, repoRoot } from './helm.js';

/**
 * The ecosystem's own validators on the rendered manifests of every scenario (values.yaml and
 * each ci/*-values.yaml): kubernetes-validate in strict mode (unknown fields are errors) against
 * the oldest and the newest Kubernetes the chart supports, the custom resources against their
 * projects' CRD schemas (crd-schema.ts), and checkov once over all renders combined.
 */
const venv = process.env.CHART_VENV ?? join(repoRoot, '.tools/venv');
const kubernetesValidate = join(venv, 'bin/kubernetes-validate');
const checkov = join(venv, 'bin/checkov');

/** Oldest: Chart.yaml's kubeVersion floor; newest: the latest kubernetes-validate knows. */
export const kubeVersions = ['1.29.0', '1.37.0'];

const work = mkdtempSync(join(tmpdir(), 'chart-validators-'));
const run = (cmd: string, args: string[]) => {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, cwd: work });
  if (res.error) throw res.error;
  return { code: res.status ?? -1, out: `${res.stdout}${res.stderr}`, stdout: res.stdout };
};

beforeAll(() => {
  for (const bin of [kubernetesValidate, checkov]) {
    if (!existsSync(bin)) {
      throw new Error(
        `${bin} is missing: run scripts/ensure-chart-validators.sh (it creates ${venv} with the pinned kubernetes-validate and checkov; \`pnpm --filter @chat/chart-tests test\` runs it first)`,
      );
    }
  }
});

describe('kubernetes-validate --strict on every scenario', () => {
  /** The built-in kinds of each scenario, one file each (custom resources are checked below). */
  const files = names.map((name) => {
    const file = join(work, `${name}.yaml`);
    const core = rendered(name).filter((d) => !isCustomResource(d));
    writeFileSync(file, core.map((d) => JSON.stringify(d)).join('\n---\n'));
    return { name, file, count: core.length };
  });

  it('Chart.yaml supports exactly the versions validated here, from the oldest', () => {
    const chart = readFileSync(join(chartDir, 'Chart.yaml'), 'utf8');
    expect(chart).toMatch(new RegExp(`^kubeVersion: ">=${kubeVersions[0]}-0"$`, 'm'));
  });

  it.each(kubeVersions)('Kubernetes %s: every built-in object passes', (version) => {
    const res = run(kubernetesValidate, ['--strict', '-k', version, ...files.map((f) => f.file)]);
    expect(res.code, res.out).toBe(0);
    expect(res.out).not.toMatch(/^(WARN|ERROR)/m);
    const passed = res.out.match(/ passed for resource /g)?.length ?? 0;
    expect(passed).toBe(files.reduce((n, f) => n + f.count, 0));
  });

  it('strict mode is not a no-op: an unknown field and a wrong type fail', () => {
    const bad = join(work, 'bad.yaml');
    const deployment = rendered('default').find((d) => d.kind === 'Deployment');
    const typo = structuredClone(deployment) as Record<string, Record<string, unknown>>;
    (typo.spec as Record<string, unknown>).replicass = 3;
    writeFileSync(bad, stringify(typo));
    const res = run(kubernetesValidate, ['--strict', '-k', kubeVersions[0] as string, bad]);
    expect(res.code).not.toBe(0);
    expect(res.out).toContain('replicass');
  });
});

describe('custom resources against their CRD schemas, unknown fields rejected', () => {
  it.each(names)('%s', (name) => {
    for (const doc of rendered(name).filter(isCustomResource)) {
      expect(crdErrors(doc), `${doc.kind}/${doc.metadata.name}`).toEqual([]);
    }
  });
});

interface CheckovResult {
  check_id: string;
  check_name: string;
  resource: string;
  check_result: { result: string; suppress_comment?: string };
}
interface CheckovReport {
  summary: { passed: number; failed: number; skipped: number; resource_count: number };
  results: {
    passed_checks: CheckovResult[];
    failed_checks: CheckovResult[];
    skipped_checks: CheckovResult[];
  };
}

/** The README table of skips: `| CKV_K8S_11 | reason |` rows between the checkov-skips markers. */
function documentedSkips(): Map<string, string> {
  const readme = readFileSync(join(chartDir, 'README.md'), 'utf8');
  const start = readme.indexOf('<!-- checkov-skips:start -->');
  const end = readme.indexOf('<!-- checkov-skips:end -->');
  if (start < 0 || end < start) throw new Error('charts/chat/README.md needs the checkov-skips markers');
  const rows = [...readme.slice(start, end).matchAll(/^\| `(CKV2?_K8S_\d+)` \| ([^|]+) \| (.+) \|$/gm)];
  return new Map(rows.map((m) => [`${m[1]} ${m[2]?.trim()}`, (m[3] ?? '').trim()]));
}

describe('checkov over all scenarios combined', () => {
  let report: CheckovReport;

  beforeAll(() => {
    // One run over every render (checkov's start-up dominates, so once is much faster).
    // Each scenario in a namespace of its own, so checkov keeps every object (it keys them by
    // kind, namespace and name) and its graph checks pair objects of the same scenario only.
    const combined = join(work, 'all.yaml');
    const docs = names.flatMap((n) =>
      rendered(n).map((d) => JSON.stringify({ ...d, metadata: { ...d.metadata, namespace: `chat-${n}` } })),
    );
    writeFileSync(combined, docs.join('\n---\n'));
    const res = run(checkov, ['-f', combined, '--framework', 'kubernetes', '-o', 'json']);
    const parsed = JSON.parse(res.stdout) as CheckovReport | CheckovReport[];
    report = Array.isArray(parsed) ? (parsed[0] as CheckovReport) : parsed;
    process.stdout.write(
      `checkov: ${report.summary.passed} passed, ${report.summary.failed} failed, ${report.summary.skipped} skipped on ${report.summary.resource_count} resources\n`,
    );
  }, 180_000);

  it('no failed check', () => {
    const failed = report.results.failed_checks.map((c) => `${c.check_id} ${c.check_name} (${c.resource})`);
    expect(failed, failed.join('\n')).toEqual([]);
    expect(report.summary.passed).toBeGreaterThan(500);
  });

  it('every skip carries a reason, and the README lists exactly these skips', () => {
    const seen = new Map<string, string>();
    for (const c of report.results.skipped_checks) {
      const reason = c.check_result.suppress_comment ?? '';
      expect(reason.length, `${c.check_id} on ${c.resource}`).toBeGreaterThan(20);
      const kind = c.resource.split('.')[0] ?? '';
      seen.set(`${c.check_id} ${kind}`, reason);
    }
    expect(seen.size).toBeGreaterThan(0);
    const documented = documentedSkips();
    expect(
      [...documented.entries()].sort(),
      'update the checkov-skips table in charts/chat/README.md',
    ).toEqual([...seen.entries()].sort());
  });
});
