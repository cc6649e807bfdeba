import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installReason, markInstalled, pinnedPnpmVersion, resolvePnpm } from '../lib/pnpm.mjs';

let repo: string;

beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), 'pnpm-state-'));
  writeFileSync(join(repo, 'package.json'), JSON.stringify({ packageManager: 'pnpm@10.34.9+sha512.abc' }));
  writeFileSync(join(repo, 'pnpm-lock.yaml'), "lockfileVersion: '9.0'\n");
});
afterEach(() => rmSync(repo, { recursive: true, force: true }));

const at = (file: string, seconds: number) => utimesSync(join(repo, file), seconds, seconds);

function install(...packages: string[]) {
  mkdirSync(join(repo, 'node_modules'), { recursive: true });
  writeFileSync(join(repo, 'node_modules/.modules.yaml'), 'layoutVersion: 5\n');
  for (const p of packages) mkdirSync(join(repo, p, 'node_modules'), { recursive: true });
}

describe('installReason: when `npm start` runs pnpm install', () => {
  it('on a fresh clone (no node_modules)', () => {
    expect(installReason(repo, ['apps/server'])).toBe('node_modules is missing');
  });

  it("when an app's own node_modules is gone", () => {
    install('apps/server');
    expect(installReason(repo, ['apps/server', 'apps/web'])).toBe('apps/web/node_modules is missing');
  });

  it('when pnpm-lock.yaml changed after the last install (a pull), and not once installed again', () => {
    install('apps/server');
    at('node_modules/.modules.yaml', 1_000);
    at('pnpm-lock.yaml', 2_000);
    expect(installReason(repo, ['apps/server'])).toBe('pnpm-lock.yaml is newer than node_modules');
    // An install with nothing to change does not rewrite the marker: markInstalled touches it.
    markInstalled(repo);
    expect(installReason(repo, ['apps/server'])).toBeUndefined();
  });

  it('not when node_modules is newer than the lockfile', () => {
    install('apps/server');
    at('pnpm-lock.yaml', 1_000);
    at('node_modules/.modules.yaml', 2_000);
    expect(installReason(repo, ['apps/server'])).toBeUndefined();
  });
});

describe('resolvePnpm: which pnpm `npm start` uses', () => {
  it('the pnpm that runs the script (`pnpm start`), through this node when it is a JS file', () => {
    const cli = join(repo, 'pnpm.cjs');
    writeFileSync(cli, '');
    expect(resolvePnpm(repo, { npm_execpath: cli, PATH: '' })).toEqual({
      cmd: process.execPath,
      args: [cli],
      label: 'pnpm',
    });
  });

  it('a pnpm on PATH under `npm start` (npm_execpath is npm)', () => {
    const bin = join(repo, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'pnpm'), '#!/bin/sh\n');
    chmodSync(join(bin, 'pnpm'), 0o755);
    expect(
      resolvePnpm(repo, { npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js', PATH: bin }),
    ).toEqual({
      cmd: join(bin, 'pnpm'),
      args: [],
      label: 'pnpm',
    });
  });

  it('with only Node and npm: the pinned pnpm through npx', () => {
    expect(pinnedPnpmVersion(repo)).toBe('10.34.9');
    expect(resolvePnpm(repo, { PATH: join(repo, 'nothing') })).toEqual({
      cmd: 'npx',
      args: ['--yes', 'pnpm@10.34.9'],
      label: 'npx pnpm@10.34.9',
    });
  });
});
