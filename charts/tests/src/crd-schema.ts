import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import type { Manifest } from './helm.js';

/**
 * Strict validation of custom resources against the CRD schemas of the projects themselves
 * (charts/tests/crds/, refreshed by crds-update.ts), the way an API server with
 * `fieldValidation=Strict` (kubectl's default) treats them: a field the schema does not declare
 * is an error unless the schema says `x-kubernetes-preserve-unknown-fields`. The
 * @kubernetes-models validators accept unknown fields, so they cannot catch a misspelt key.
 * Not evaluated: CEL rules (`x-kubernetes-validations`) and string formats.
 */
export const crdDir = join(dirname(fileURLToPath(import.meta.url)), '../crds');

export interface CrdFile {
  source: string;
  apiVersion: string;
  kind: string;
  openAPIV3Schema: unknown;
}

export const crdFileName = (apiVersion: string, kind: string): string =>
  `${apiVersion.replace('/', '_')}_${kind}.yaml`;

type Schema = Record<string, unknown>;
const isObj = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A Go (RE2) pattern as a JavaScript one. RE2's inline case-insensitive flag `(?i)` (which
 * JavaScript lacks in Node 20) becomes a `[xX]` class per letter; a `(?i)` pattern with its own
 * character classes is left out (undefined) rather than checked wrongly.
 */
export function jsPattern(pattern: string): string | undefined {
  if (!pattern.includes('(?i)')) return pattern;
  const rest = pattern.replace('(?i)', '');
  if (rest.includes('[') || rest.includes('(?')) return undefined;
  return rest.replace(/(\\.)|([a-zA-Z])/g, (m, escaped: string | undefined, letter: string | undefined) =>
    escaped ? m : `[${letter?.toLowerCase()}${letter?.toUpperCase()}]`,
  );
}

/** The structural-schema dialect of Kubernetes turned into plain JSON Schema, closed objects. */
export function strictSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictSchema);
  if (!isObj(node)) return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'pattern' && typeof v === 'string') {
      const pattern = jsPattern(v);
      if (pattern !== undefined) out[k] = pattern;
    } else if (k === 'properties' && isObj(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strictSchema(s)]));
    } else if (k.startsWith('x-kubernetes-') || k === 'nullable' || k === 'format') {
      // handled below or not checkable here
    } else {
      out[k] = strictSchema(v);
    }
  }
  if (node['x-kubernetes-int-or-string'] === true) {
    delete out.type;
    if (!out.anyOf) out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (isObj(node.properties) && node.additionalProperties === undefined && !preserve) {
    out.additionalProperties = false;
  }
  return out;
}

export interface CrdValidator {
  /** Source of the schema (module@version/file). */
  source: string;
  validate: ValidateFunction;
}

let cache: Map<string, CrdValidator> | undefined;

export function crdValidators(): Map<string, CrdValidator> {
  if (cache) return cache;
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const map = new Map<string, CrdValidator>();
  for (const f of readdirSync(crdDir).filter((n) => n.endsWith('.yaml'))) {
    const crd = parse(readFileSync(join(crdDir, f), 'utf8')) as CrdFile;
    const schema = strictSchema(crd.openAPIV3Schema) as Schema;
    // The API server always accepts the type and object metadata (it validates metadata itself);
    // some CRDs (Istio's) leave them out of the schema.
    schema.properties = {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      ...(isObj(schema.properties) ? schema.properties : {}),
    };
    schema.additionalProperties = false;
    map.set(`${crd.apiVersion}/${crd.kind}`, { source: crd.source, validate: ajv.compile(schema) });
  }
  cache = map;
  return map;
}

const describe = (e: ErrorObject): string =>
  e.keyword === 'additionalProperties'
    ? `${e.instancePath || '/'}: unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`
    : `${e.instancePath || '/'}: ${e.message ?? e.keyword}`;

/** Errors of one custom resource against its CRD schema; throws if no schema is vendored for it. */
export function crdErrors(doc: Manifest): string[] {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const v = crdValidators().get(key);
  if (!v) throw new Error(`no CRD schema vendored for ${key}: add it to crds-update.ts`);
  if (v.validate(doc)) return [];
  return (v.validate.errors ?? []).map(describe);
}

/** Whether the document is a custom resource (validated here, not by kubernetes-validate). */
export const isCustomResource = (doc: Manifest): boolean =>
  crdValidators().has(`${doc.apiVersion}/${doc.kind}`);
