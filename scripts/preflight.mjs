#!/usr/bin/env node
// The first step of `pnpm test`: makes sure the dependencies are installed and the programs
// the test suite runs are on this machine, one line per program ("redis-server: found
// /usr/bin/redis-server 7.0.15"), and installs the missing ones with apt-get (Debian/Ubuntu, as root or with sudo), Homebrew
// (macOS) or Playwright's browser download. Where it cannot install, it stops with the exact
// command to run. `--check` only reports.
//   node scripts/preflight.mjs [--check]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findChromium } from './chromium.mjs';
import { aptInstall, brewInstall, InstallError, playwrightInstallChromium } from './lib/install.mjs';
import { installReason, markInstalled, resolvePnpm } from './lib/pnpm.mjs';
import { aptInstallCommand, detectSystem, toolVersion } from './lib/system.mjs';
import { plan, playwrightArgs, SCRIPTS, TOOLS } from './lib/tools.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** @param {string} line */
const say = (line) => process.stdout.write(`${line}\n`);

/** @param {string} message @param {string} fix @returns {never} */
function stop(message, fix) {
  say(`preflight: ${message}`);
  say(`preflight: to fix it, run: ${fix}`);
  process.exit(1);
}

/** @param {import('./lib/tools.mjs').Tool} tool */
async function probe(tool) {
  const path = tool.locate();
  if (!path) return undefined;
  const version = await toolVersion(path, tool.versionArgs);
  return version ? { path, version } : undefined;
}

/** The engines.node check that `pnpm dev` and `npm start` run too (scripts/check-node.mjs). */
function checkNode() {
  const res = spawnSync(process.execPath, [join(repoRoot, 'scripts/check-node.mjs')], { encoding: 'utf8' });
  if (res.status !== 0) {
    stop(`node: ${res.stderr.trim()}`, 'nvm install --lts   (or a current Node from https://nodejs.org)');
  }
  say(`node: found ${process.execPath} ${process.versions.node}`);
}

/**
 * node_modules, so that `pnpm test` works on a fresh clone too (CI has installed already).
 * @param {boolean} checkOnly
 */
function ensureDependencies(checkOnly) {
  const reason = installReason(repoRoot, ['apps/server', 'apps/web', 'e2e']);
  if (!reason) {
    say('dependencies: found node_modules, newer than pnpm-lock.yaml');
    return;
  }
  if (checkOnly) stop(`dependencies: ${reason}`, 'pnpm install --frozen-lockfile');
  const pnpm = resolvePnpm(repoRoot);
  say(`dependencies: ${reason}, installing with ${pnpm.label} install --frozen-lockfile`);
  const res = spawnSync(pnpm.cmd, [...pnpm.args, 'install', '--frozen-lockfile'], {
    cwd: repoRoot,
    stdio: 'inherit',
  });
  if (res.status !== 0) stop('dependencies: pnpm install failed', 'pnpm install --frozen-lockfile');
  markInstalled(repoRoot);
  say('dependencies: installed node_modules (pnpm install --frozen-lockfile)');
}

function checkChromiumPathVariable() {
  const explicit = process.env.CHROMIUM_PATH;
  if (explicit && !findChromium()) {
    stop(
      `CHROMIUM_PATH=${explicit} is not an executable file`,
      'unset CHROMIUM_PATH (the preflight then finds or installs Chromium) or point it at a Chromium binary',
    );
  }
}

/** @param {boolean} checkOnly */
async function ensureTools(checkOnly) {
  checkChromiumPathVariable();
  /** @type {import('./lib/tools.mjs').Tool[]} */
  const missing = [];
  // Probed at once (some start slowly: docker-compose v1 is Python), reported in order.
  const probes = await Promise.all(TOOLS.map(probe));
  for (const [i, tool] of TOOLS.entries()) {
    const found = probes[i];
    if (found) say(`${tool.name}: found ${found.path} ${found.version}`);
    else {
      say(`${tool.name}: missing`);
      missing.push(tool);
    }
  }
  if (missing.length === 0) return;

  const sys = detectSystem();
  const steps = plan(missing, sys);
  const names = missing.map((t) => t.name).join(', ');
  if (steps.blocked) stop(`cannot install ${names} here: ${steps.blocked}`, steps.commands);
  if (checkOnly) stop(`missing: ${names}`, steps.commands);
  try {
    if (steps.apt.length) aptInstall(sys, steps.apt, say, aptInstallCommand(steps.apt, sys));
    if (steps.brew.length && sys.brew) brewInstall(sys.brew, steps.brew, say);
    if (steps.browserDownload) playwrightInstallChromium(repoRoot, playwrightArgs(sys), say);
  } catch (err) {
    if (err instanceof InstallError) stop(err.message, err.fix);
    throw err;
  }
  for (const tool of missing) {
    const found = await probe(tool);
    if (!found) stop(`${tool.name} is still missing after the install`, steps.commands);
    say(`${tool.name}: installed ${found.path} ${found.version}`);
  }
}

/** @param {boolean} checkOnly */
function ensureScriptTools(checkOnly) {
  for (const step of SCRIPTS) {
    if (!existsSync(join(repoRoot, step.file))) continue;
    if (checkOnly) {
      say(`${step.name}: not checked with --check (${step.file} fetches or builds it)`);
      continue;
    }
    // stderr (progress of a first download or build) goes straight to the terminal.
    const res = spawnSync('bash', [join(repoRoot, step.file), ...step.args], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (res.status !== 0) stop(`${step.name}: ${step.file} failed (exit ${res.status})`, `bash ${step.file}`);
    const last = (res.stdout ?? '').trim().split('\n').pop() ?? '';
    say(`${step.name}: found via ${step.file}${last ? `: ${last}` : ''}`);
  }
}

async function main() {
  const checkOnly = process.argv.includes('--check');
  const started = performance.now();
  checkNode();
  ensureDependencies(checkOnly);
  await ensureTools(checkOnly);
  ensureScriptTools(checkOnly);
  say(
    `preflight: ok, everything the tests run is here (${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}

await main();
