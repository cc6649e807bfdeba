// What the preflight needs to know about the machine: running a tool for its version, which
// package manager there is, and whether it may be used (root, sudo, Homebrew).
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { findOnPath } from './which.mjs';

/**
 * Whether a command exits 0 (output discarded).
 * @param {string} cmd @param {string[]} args
 */
function succeeds(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore', timeout: 5_000 }).status === 0;
}

/**
 * The first version-looking token of a tool's version output: "Redis server v=7.0.15 sha=…"
 * gives 7.0.15, "prometheus, version 2.42.0+ds (branch…" gives 2.42.0+ds.
 * @param {string} text
 */
export function parseVersion(text) {
  const m = /(\d+\.\d+(?:\.\d+)?[^\s,()]*)/.exec(text);
  return m?.[1];
}

/**
 * @param {string} bin an absolute path or a name on PATH
 * @param {string[]} versionArgs
 * @returns {Promise<string | undefined>} the version, or undefined when the tool does not run
 */
export function toolVersion(bin, versionArgs) {
  return new Promise((resolve) => {
    execFile(bin, versionArgs, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve(err ? undefined : (parseVersion(`${stdout}\n${stderr}`) ?? 'unknown version'));
    });
  });
}

/**
 * @typedef {'debian' | 'ubuntu' | 'macos' | 'linux' | 'other'} OsFamily
 * @typedef {{
 *   os: OsFamily,
 *   root: boolean,
 *   apt: boolean,
 *   brew: string | undefined,
 *   sudo: 'none' | 'passwordless' | 'interactive' | 'unavailable',
 *   browserDownloadAllowed: boolean,
 * }} SystemInfo
 */

/** @param {string} osRelease contents of /etc/os-release */
export function osFamilyFromRelease(osRelease) {
  const field = (/** @type {string} */ key) =>
    new RegExp(`^${key}=["']?([^"'\\n]*)`, 'm').exec(osRelease)?.[1]?.toLowerCase() ?? '';
  const ids = [field('ID'), ...field('ID_LIKE').split(/\s+/)];
  if (ids.includes('ubuntu')) return 'ubuntu';
  if (ids.includes('debian')) return 'debian';
  return 'linux';
}

/** @returns {SystemInfo} */
export function detectSystem(env = process.env) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  /** @type {OsFamily} */
  let os = 'other';
  if (process.platform === 'darwin') os = 'macos';
  else if (process.platform === 'linux') {
    os = existsSync('/etc/os-release')
      ? osFamilyFromRelease(readFileSync('/etc/os-release', 'utf8'))
      : 'linux';
  }
  const apt = (os === 'debian' || os === 'ubuntu') && findOnPath('apt-get', env) !== undefined;
  const brew = os === 'macos' ? findOnPath('brew', env) : undefined;
  /** @type {SystemInfo['sudo']} */
  let sudo = 'none';
  if (!root && os !== 'macos') {
    if (findOnPath('sudo', env) === undefined) sudo = 'unavailable';
    else if (succeeds('sudo', ['-n', 'true'])) sudo = 'passwordless';
    else sudo = process.stdin.isTTY ? 'interactive' : 'unavailable';
  }
  const skip = env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD;
  return { os, root, apt, brew, sudo, browserDownloadAllowed: !skip || skip === '0' || skip === 'false' };
}

/**
 * The apt-get command line a user without root runs (also what the preflight prints when it
 * cannot install by itself).
 * @param {string[]} packages
 * @param {SystemInfo} sys
 */
export function aptInstallCommand(packages, sys) {
  const prefix = sys.root ? '' : 'sudo ';
  return `${prefix}apt-get update && ${prefix}apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/** @param {SystemInfo} sys */
export function canUseApt(sys) {
  return sys.apt && (sys.root || sys.sudo === 'passwordless' || sys.sudo === 'interactive');
}
