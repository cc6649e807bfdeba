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

describe('one image version from docker build to helm install', () => {
  const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as {
    image: { repository: string; tag: string };
  };
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Deploy on Kubernetes'));
  const deploy = section.slice(0, section.indexOf('\n## ', 3));
  const chartReadme = readFileSync(join(chartDir, 'README.md'), 'utf8');

  it("the README's build, push and install use one tag, which is the chart's appVersion and default image tag", () => {
    // The default image.tag is empty: the Deployment uses appVersion.
    expect(values.image.tag).toBe('');
    const version = chart.appVersion;
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    for (const text of [deploy, chartReadme]) {
      const builds = [...text.matchAll(/docker build[^\n]* -t (\S+):(\S+)/g)];
      const pushes = [...text.matchAll(/docker push (\S+):(\S+)/g)];
      const sets = [...text.matchAll(/--set image\.tag=(\S+)/g)];
      expect(builds.length).toBeGreaterThan(0);
      expect(pushes.length).toBeGreaterThan(0);
      expect(sets.length).toBeGreaterThan(0);
      for (const m of [...builds, ...pushes]) expect(m[2]).toBe(version);
      for (const m of sets) expect(m[1]).toBe(version);
      // Everything pushed is what was built, and what the install pulls.
      const repos = new Set([...builds, ...pushes].map((m) => m[1]));
      for (const m of text.matchAll(/--set image\.repository=(\S+)/g))
        expect(repos.has(m[1] as string)).toBe(true);
    }
    expect(deploy).not.toMatch(/:latest\b/);
  });
});
