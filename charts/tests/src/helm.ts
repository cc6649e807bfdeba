import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const chartDir = join(repoRoot, 'charts/chat');
export const helmScript = join(repoRoot, 'scripts/helm.sh');

/**
 * The chart has no token secret by default (it never generates one), so the `default` scenario
 * renders values.yaml with only this placeholder set; every ci/*-values.yaml file carries its own.
 */
export const defaultTokenSecret = 'test-only-placeholder-token-secret-0123456789';

/** Every values file in charts/chat/ci, by name (`ci/<name>-values.yaml`): a new file is covered at once. */
export const ciValuesFiles: Record<string, string> = Object.fromEntries(
  readdirSync(join(chartDir, 'ci'))
    .filter((f) => f.endsWith('-values.yaml'))
    .sort()
    .map((f) => [f.replace(/-values\.yaml$/, ''), join(chartDir, 'ci', f)]),
);

/** The renders the suite checks: the defaults and each ci/ file. */
export type Scenario = string;
export const scenarioNames: Scenario[] = ['default', ...Object.keys(ciValuesFiles)];

/** helm arguments selecting a scenario's values. */
export function scenarioArgs(name: Scenario): string[] {
  if (name === 'default') return ['--set', `auth.tokenSecret=${defaultTokenSecret}`];
  const file = ciValuesFiles[name];
  if (!file) throw new Error(`no values file ci/${name}-values.yaml`);
  return ['-f', file];
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs Helm through scripts/helm.sh (PATH helm, or the cached Helm 4 from npm). */
export function helm(args: readonly string[]): Run {
  if (!existsSync(helmScript)) throw new Error(`missing ${helmScript}`);
  const res = spawnSync('bash', [helmScript, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.error) throw res.error;
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

export interface RenderOptions {
  /** A scenario whose values come first (then `files`, then `set`); default `default`. */
  scenario?: Scenario;
  /** Render values.yaml alone, without the default scenario's token secret. */
  bare?: boolean;
  files?: readonly string[];
  set?: Record<string, string | number | boolean>;
  /** `--set-string` values (kept as strings even when they look like numbers). */
  setString?: Record<string, string>;
  release?: string;
  namespace?: string;
  /** Include the `helm test` hook documents (templates/tests). */
  includeTests?: boolean;
  /** Kubernetes version the render assumes (`--kube-version`). */
  kubeVersion?: string;
}

function renderArgs(opts: RenderOptions): string[] {
  const args = ['template', opts.release ?? 'rel', chartDir, '--namespace', opts.namespace ?? 'chat'];
  if (!opts.bare) args.push(...scenarioArgs(opts.scenario ?? 'default'));
  for (const f of opts.files ?? []) args.push('-f', f);
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push('--set', `${k}=${String(v)}`);
  for (const [k, v] of Object.entries(opts.setString ?? {})) args.push('--set-string', `${k}=${v}`);
  if (opts.includeTests === false) args.push('--skip-tests');
  if (opts.kubeVersion) args.push('--kube-version', opts.kubeVersion);
  return args;
}

/** `helm template`, raw. */
export function template(opts: RenderOptions = {}): Run {
  return helm(renderArgs(opts));
}

/** A rendered manifest: only the fields every document has are typed; the rest is checked by models. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

function isManifest(v: unknown): v is Manifest {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const meta = o.metadata as Record<string, unknown> | undefined;
  return typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof meta?.name === 'string';
}

/** Parses a multi-document YAML stream; fails on YAML errors and on documents without apiVersion/kind/name. */
export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new Error(`invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (!isManifest(value))
      throw new Error(`not a Kubernetes manifest: ${JSON.stringify(value).slice(0, 200)}`);
    out.push(value);
  }
  return out;
}

/** `helm template` that must succeed; returns the parsed documents. */
export function render(opts: RenderOptions = {}): Manifest[] {
  const run = template(opts);
  if (run.code !== 0) throw new Error(`helm template failed (${run.code}):\n${run.stderr}`);
  return parseManifests(run.stdout);
}

export function renderScenario(name: Scenario, extra: Omit<RenderOptions, 'scenario'> = {}): Manifest[] {
  return render({ ...extra, scenario: name });
}

/** Documents of one kind, typed as the caller's model interface (they passed model validation first). */
export function ofKind<T>(docs: readonly Manifest[], kind: string): T[] {
  return docs.filter((d) => d.kind === kind) as unknown as T[];
}

export function one<T>(docs: readonly Manifest[], kind: string): T {
  const found = ofKind<T>(docs, kind);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}, found ${found.length}`);
  return found[0] as T;
}

/** Kind -> count, for the resource-count assertions. */
export function countKinds(docs: readonly Manifest[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const d of docs) counts[d.kind] = (counts[d.kind] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}
