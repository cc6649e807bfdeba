// Installing what the preflight found missing: apt-get (one `apt-get update` at most, and only
// when the install needs it), Homebrew, or Playwright's own Chromium download.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Thrown when an install ran and failed; the preflight prints `message` and `fix`, no stack.
 */
export class InstallError extends Error {
  /** @param {string} message @param {string} fix the command for the user to run */
  constructor(message, fix) {
    super(message);
    this.fix = fix;
  }
}

/**
 * Runs a command quietly; its output is shown only when it fails.
 * @param {string} cmd @param {string[]} args @param {NodeJS.ProcessEnv} [env]
 */
function runQuiet(cmd, args, env = process.env) {
  // stdin stays the terminal so that sudo can ask for a password.
  const res = spawnSync(cmd, args, { stdio: ['inherit', 'pipe', 'pipe'], encoding: 'utf8', env });
  const output = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim();
  return { ok: res.status === 0, output: output || String(res.error ?? '') };
}

/** @param {string} output */
function tail(output, lines = 15) {
  return output.split('\n').slice(-lines).join('\n');
}

/**
 * @param {import('./system.mjs').SystemInfo} sys
 * @param {string[]} args arguments of apt-get
 */
function aptGet(sys, args) {
  const envArgs = ['DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
  return sys.root ? runQuiet('env', envArgs) : runQuiet('sudo', ['env', ...envArgs]);
}

/**
 * @param {import('./system.mjs').SystemInfo} sys
 * @param {string[]} packages
 * @param {(line: string) => void} say
 * @param {string} fix what the user runs if this fails
 */
export function aptInstall(sys, packages, say, fix) {
  const install = ['install', '-y', '-qq', '--no-install-recommends', ...packages];
  say(`installing with apt-get: apt-get ${install.join(' ')}`);
  let res = aptGet(sys, install);
  if (!res.ok) {
    // A fresh image has no package lists, and old lists point at removed .debs.
    say('apt-get: refreshing the package lists (apt-get update), then installing again');
    const update = aptGet(sys, ['update', '-qq']);
    if (!update.ok) throw new InstallError(`apt-get update failed:\n${tail(update.output)}`, fix);
    res = aptGet(sys, install);
  }
  if (!res.ok) throw new InstallError(`apt-get install failed:\n${tail(res.output)}`, fix);
}

/**
 * @param {string} brew path of brew
 * @param {string[]} formulae
 * @param {(line: string) => void} say
 */
export function brewInstall(brew, formulae, say) {
  const args = ['install', ...formulae];
  say(`installing with Homebrew: brew ${args.join(' ')}`);
  const res = runQuiet(brew, args, { ...process.env, HOMEBREW_NO_AUTO_UPDATE: '1' });
  if (!res.ok) throw new InstallError(`brew install failed:\n${tail(res.output)}`, `brew ${args.join(' ')}`);
}

/** @param {string} repoRoot */
function playwrightCli(repoRoot) {
  return join(repoRoot, 'e2e', 'node_modules', '.bin', 'playwright');
}

/**
 * Playwright's own Chromium build into its cache (found there by scripts/chromium.mjs).
 * @param {string} repoRoot
 * @param {string[]} args `install [--with-deps] chromium`
 * @param {(line: string) => void} say
 */
export function playwrightInstallChromium(repoRoot, args, say) {
  const fix = `pnpm --filter @chat/e2e exec playwright ${args.join(' ')}`;
  const cli = playwrightCli(repoRoot);
  if (!existsSync(cli)) {
    throw new InstallError('the e2e dependencies are not installed', `pnpm install && ${fix}`);
  }
  say(`installing with Playwright: playwright ${args.join(' ')} (a download of about 200 MB)`);
  // Its progress bar is worth seeing; its errors are on the terminal already.
  const res = spawnSync(cli, args, { stdio: 'inherit' });
  if (res.status !== 0) throw new InstallError(`playwright install failed (exit ${res.status})`, fix);
}
