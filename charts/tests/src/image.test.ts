import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chartDir, repoRoot } from './helm.js';

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
/** Instructions of the last stage (the runtime image). */
const stages = dockerfile.split(/^FROM /m).slice(1);
const runtime = stages.at(-1) ?? '';

describe('Dockerfile', () => {
  it('is multi-stage on Node 24', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24[-.\w]*$/m);
    for (const s of stages) expect(s).toMatch(/^\$\{NODE_IMAGE\} AS \w+/);
  });

  it('installs the pnpm the repository pins and deploys the server with production dependencies only', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      packageManager: string;
    };
    expect(dockerfile).toContain(`npm i -g ${pkg.packageManager}`);
    expect(dockerfile).toMatch(/pnpm --filter @chat\/server deploy --prod/);
    expect(dockerfile).toMatch(/--frozen-lockfile/);
  });

  it('runtime: non-root uid 10001 (the chart runs it as the same uid), serves the web build, runs dist/server.js', () => {
    expect(runtime).toMatch(/^USER 10001:10001$/m);
    const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as {
      podSecurityContext: { runAsUser: number };
      securityContext: { runAsUser: number };
    };
    expect(values.podSecurityContext.runAsUser).toBe(10001);
    expect(values.securityContext.runAsUser).toBe(10001);
    expect(runtime).toMatch(/WEB_ROOT=\/app\/web/);
    expect(runtime).toMatch(/COPY --from=build \/out\/web \/app\/web/);
    expect(runtime).toMatch(/^WORKDIR \/app\/server$/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/server\.js"\]$/m);
    expect(runtime).toMatch(/NODE_ENV=production/);
    // No build tooling or sources in the runtime stage.
    expect(runtime).not.toMatch(/pnpm|npm i/);
  });

  it('.dockerignore keeps dependencies, build output and git out of the context', () => {
    for (const p of ['.git', '**/node_modules', '**/dist', '.env']) expect(dockerignore).toContain(p);
  });
});
