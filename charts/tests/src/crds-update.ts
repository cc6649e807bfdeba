/**
 * Refreshes charts/tests/crds/: the openAPIV3Schema of every custom resource the chart renders,
 * taken from the projects' own CRD manifests in their Go module zips (proxy.golang.org), so the
 * strict validation (crd-schema.ts) checks against what the API server enforces.
 *   pnpm --filter @chat/chart-tests crds      # needs curl and unzip; rewrites crds/*.yaml
 * Bump a version below, run it, review the diff.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { type CrdFile, crdDir, crdFileName } from './crd-schema.js';

interface Source {
  module: string;
  version: string;
  /** Files inside the module with CRD documents. */
  files: string[];
}

const sources: Source[] = [
  {
    module: 'istio.io/istio',
    // Istio tags are not module versions: this is the pseudo-version of master after 1.28.
    version: 'v0.0.0-20260827124520-eed52ebb66ad',
    files: ['manifests/charts/base/files/crd-all.gen.yaml'],
  },
  {
    module: 'github.com/kedacore/keda/v2',
    version: 'v2.21.1',
    files: ['config/crd/bases/keda.sh_scaledobjects.yaml'],
  },
  {
    module: 'github.com/prometheus-operator/prometheus-operator',
    version: 'v0.85.0',
    files: [
      'example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml',
      'example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml',
      'example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml',
    ],
  },
  {
    module: 'sigs.k8s.io/gateway-api',
    version: 'v1.4.1',
    files: ['config/crd/standard/gateway.networking.k8s.io_httproutes.yaml'],
  },
];

/** group/version/kind the chart renders (the only schemas kept). */
const wanted = [
  'networking.istio.io/v1/Gateway',
  'networking.istio.io/v1/VirtualService',
  'networking.istio.io/v1/DestinationRule',
  'security.istio.io/v1/PeerAuthentication',
  'keda.sh/v1alpha1/ScaledObject',
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PodMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
  'gateway.networking.k8s.io/v1/HTTPRoute',
];

interface Crd {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; schema?: { openAPIV3Schema?: unknown } }[];
  };
}

/** The schema without `description` keys (a property named "description" stays). */
function withoutDescriptions(node: unknown, inProperties = false): unknown {
  if (Array.isArray(node)) return node.map((n) => withoutDescriptions(n));
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => inProperties || k !== 'description')
      .map(([k, v]) => [k, withoutDescriptions(v, !inProperties && k === 'properties')]),
  );
}

function main(): void {
  const work = mkdtempSync(join(tmpdir(), 'chart-crds-'));
  try {
    const found = new Set<string>();
    for (const src of sources) {
      const zip = join(work, 'm.zip');
      const escaped = src.module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
      execFileSync('curl', ['-sSfL', '-o', zip, `https://proxy.golang.org/${escaped}/@v/${src.version}.zip`]);
      for (const file of src.files) {
        const member = `${src.module}@${src.version}/${file}`;
        const text = execFileSync('unzip', ['-p', zip, member], { maxBuffer: 64 << 20 }).toString('utf8');
        for (const doc of parseAllDocuments(text)) {
          const crd = doc.toJS() as Crd | null;
          if (crd?.kind !== 'CustomResourceDefinition') continue;
          for (const v of crd.spec.versions) {
            const id = `${crd.spec.group}/${v.name}/${crd.spec.names.kind}`;
            if (!wanted.includes(id) || !v.schema?.openAPIV3Schema) continue;
            // Only the structure is kept: the projects' descriptions are theirs, and not needed.
            const out: CrdFile = {
              source: `${src.module}@${src.version}/${file}`,
              apiVersion: `${crd.spec.group}/${v.name}`,
              kind: crd.spec.names.kind,
              openAPIV3Schema: withoutDescriptions(v.schema.openAPIV3Schema),
            };
            writeFileSync(
              join(crdDir, crdFileName(out.apiVersion, out.kind)),
              stringify(out, { lineWidth: 0 }),
            );
            found.add(id);
          }
        }
      }
      rmSync(zip);
    }
    const missing = wanted.filter((w) => !found.has(w));
    if (missing.length > 0) throw new Error(`CRD schemas not found: ${missing.join(', ')}`);
    process.stdout.write(`wrote ${found.size} schemas to ${crdDir}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('crds-update.ts')) main();
