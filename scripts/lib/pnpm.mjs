// Finding pnpm when only Node and npm are installed, and knowing when `pnpm install` is due.
import { existsSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { basename, join } from 'node:path';
import { findOnPath } from './which.mjs';

/**
 * @typedef {{ cmd: string, args: string[], label: string }} PnpmCommand the program to spawn
 *   and the arguments that come before pnpm's own
 */

/** @param {string} repoRoot the pnpm version pinned in package.json's packageManager */
export function pinnedPnpmVersion(repoRoot) {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const m = /^pnpm@(\d+\.\d+\.\d+)/.exec(String(pkg.packageManager ?? ''));
  if (!m?.[1]) throw new Error('package.json has no "packageManager": "pnpm@x.y.z"');
  return m[1];
}

/**
 * The pnpm that runs this script (`pnpm start`), else a pnpm on PATH, else the pinned version
 * through npx (which ships with Node).
 * @param {string} repoRoot
 * @param {NodeJS.ProcessEnv} env
 * @returns {PnpmCommand}
 */
export function resolvePnpm(repoRoot, env = process.env) {
  const execPath = env.npm_execpath;
  if (execPath && basename(execPath).startsWith('pnpm') && existsSync(execPath)) {
    return /\.[cm]?js$/.test(execPath)
      ? { cmd: process.execPath, args: [execPath], label: 'pnpm' }
      : { cmd: execPath, args: [], label: 'pnpm' };
  }
  const onPath = findOnPath('pnpm', env);
  if (onPath) return { cmd: onPath, args: [], label: 'pnpm' };
  const version = pinnedPnpmVersion(repoRoot);
  return { cmd: 'npx', args: ['--yes', `pnpm@${version}`], label: `npx pnpm@${version}` };
}

/** pnpm rewrites this file on every install that changes node_modules. */
const MARKER = join('node_modules', '.modules.yaml');

/**
 * Why `pnpm install` has to run before the app can start, or undefined when node_modules is
 * there and newer than pnpm-lock.yaml.
 * @param {string} repoRoot
 * @param {string[]} packages workspace packages whose node_modules must exist
 * @returns {string | undefined}
 */
export function installReason(repoRoot, packages) {
  const marker = join(repoRoot, MARKER);
  if (!existsSync(marker)) return 'node_modules is missing';
  const lacking = packages.find((p) => !existsSync(join(repoRoot, p, 'node_modules')));
  if (lacking) return `${lacking}/node_modules is missing`;
  const lockTime = statSync(join(repoRoot, 'pnpm-lock.yaml')).mtimeMs;
  if (lockTime > statSync(marker).mtimeMs) return 'pnpm-lock.yaml is newer than node_modules';
  return undefined;
}

/**
 * After a successful install: an install with nothing to change leaves the marker as it was,
 * so it is touched to record that node_modules matches the lockfile now.
 * @param {string} repoRoot
 */
export function markInstalled(repoRoot) {
  const marker = join(repoRoot, MARKER);
  if (!existsSync(marker)) return;
  const now = new Date();
  utimesSync(marker, now, now);
}
