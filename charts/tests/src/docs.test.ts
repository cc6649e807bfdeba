import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chartDir, repoRoot } from './helm.js';
import { collect, readmePath, valuesPath, valuesTable, withTable } from './values-doc.js';

const valuesText = readFileSync(valuesPath, 'utf8');

describe('values documentation', () => {
  it('every value is documented by a `# --` comment (on itself or a parent)', () => {
    const { rows, undocumented } = collect(valuesText);
    expect(undocumented).toEqual([]);
    expect(rows.length).toBeGreaterThan(100);
  });

  it('the README values table is up to date (pnpm --filter @chat/chart-tests docs)', () => {
    const readme = readFileSync(readmePath, 'utf8');
    expect(withTable(readme, valuesTable(valuesText))).toBe(readme);
  });

  it('values.schema.json describes exactly the keys of values.yaml', () => {
    interface Schema {
      type?: string;
      properties?: Record<string, Schema>;
      additionalProperties?: boolean | Schema;
      $ref?: string;
    }
    const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Schema & {
      definitions: Record<string, Schema>;
    };
    const resolve = (s: Schema): Schema =>
      s.$ref ? (schema.definitions[s.$ref.replace('#/definitions/', '')] as Schema) : s;
    const values = parse(valuesText) as Record<string, unknown>;
    const missing: string[] = [];
    const open: string[] = [];
    const walk = (v: Record<string, unknown>, s: Schema, path: string) => {
      const node = resolve(s);
      // Free-form maps (labels, annotations, selectors, resources lists) are typed by additionalProperties.
      if (node.additionalProperties !== false) {
        if (!node.properties) return;
        open.push(path);
      }
      for (const [k, child] of Object.entries(v)) {
        const sub = node.properties?.[k];
        if (!sub) {
          missing.push(`${path}${k}`);
          continue;
        }
        if (child && typeof child === 'object' && !Array.isArray(child)) {
          walk(child as Record<string, unknown>, sub, `${path}${k}.`);
        }
      }
    };
    walk(values, schema, '');
    expect(missing).toEqual([]);
    // Every object the chart defines itself is closed (typos are errors).
    expect(open).toEqual([]);
  });

  it('the ConfigMap sets only server settings documented in the root README', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const documented = new Set([...readme.matchAll(/^\| `([A-Z][A-Z0-9_]+)` +\|/gm)].map((m) => m[1]));
    expect(documented.size).toBeGreaterThan(20);
    const template = readFileSync(join(chartDir, 'templates/configmap.yaml'), 'utf8');
    const set = [...template.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]);
    expect(set.length).toBeGreaterThan(20);
    // The chart sets the settings of the server's security work (issue 12) ahead of it; each one
    // is excused only while no apps/server/src/config*.ts defines it. Once the server has it,
    // the generated table must document it like any other.
    const srcDir = join(repoRoot, 'apps/server/src');
    const config = readdirSync(srcDir)
      .filter((f) => /^config.*\.ts$/.test(f))
      .map((f) => readFileSync(join(srcDir, f), 'utf8'))
      .join('\n');
    const aheadOfServer = [
      'METRICS_PORT',
      'CSP_CONNECT_SRC',
      'DEV_TOKEN_RATE_PER_MIN',
      'AUTH_CLOCK_SKEW_S',
      'AUTH_JWKS_URL',
      'AUTH_JWKS_ISSUER',
      'AUTH_JWKS_AUDIENCE',
      'AUTH_JWKS_COOLDOWN_MS',
      'AUTH_JWKS_CACHE_MS',
      'MAX_CONNECTIONS_PER_USER',
      'MAX_CONNECTIONS_PER_IP',
      'MAX_PENDING_CONNECTIONS',
      'HANDSHAKE_TIMEOUT_MS',
      'WS_MAX_FRAGMENTS',
      'PROTOCOL_ERROR_CLOSE_AFTER',
    ];
    // Set from Secrets (secretKeyRef) or the downward API, never in the ConfigMap.
    const fromSecrets = ['NODE_ID', 'TOKEN_SECRET', 'REDIS_URL', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'];
    const ahead = aheadOfServer.filter((name) => !new RegExp(`^\\s+${name}:`, 'm').test(config));
    for (const name of [...set, ...fromSecrets]) {
      if (ahead.includes(name as string)) continue;
      expect(documented.has(name), `${name} is not a server setting`).toBe(true);
    }
    // Every server setting is either set by the chart or deliberately left to the image.
    const leftToImage = ['WEB_ROOT'];
    for (const name of documented) {
      if (leftToImage.includes(name as string)) continue;
      expect([...set, ...fromSecrets], `${name} not set by the chart`).toContain(name);
    }
  });
});
