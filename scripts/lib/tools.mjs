// What the test suite runs and how each piece gets installed: the table behind
// scripts/preflight.mjs, and the choice of installer for a machine (pure, so it is tested
// for machines this one is not).
import { findChromium } from '../chromium.mjs';
import { aptInstallCommand, canUseApt } from './system.mjs';
import { findOnPath } from './which.mjs';

/**
 * A program the tests run. `apt`/`brew`: the packages that provide it.
 * @typedef {{ name: string, versionArgs: string[], apt: string[], brew: string[],
 *   locate: () => string | undefined }} Tool
 */

/** @type {Tool[]} */
export const TOOLS = [
  ...['redis-server', 'redis-sentinel'].map((name) => ({
    name,
    versionArgs: ['--version'],
    apt: [name],
    brew: ['redis'],
    locate: () => findOnPath(name),
  })),
  // Both from the Debian package `prometheus`: the autoscaling tests scrape the pods with it.
  ...['prometheus', 'promtool'].map((name) => ({
    name,
    versionArgs: ['--version'],
    apt: ['prometheus'],
    brew: ['prometheus'],
    locate: () => findOnPath(name),
  })),
  // `docker-compose config -q` validates docker-compose.yml offline (charts/tests).
  {
    name: 'docker-compose',
    versionArgs: ['version', '--short'],
    apt: ['docker-compose'],
    brew: ['docker-compose'],
    locate: () => findOnPath('docker-compose'),
  },
  {
    name: 'chromium',
    versionArgs: ['--version'],
    apt: ['chromium', 'fonts-liberation'],
    brew: [],
    locate: () => findChromium()?.path,
  },
];

/**
 * Repository scripts that fetch or build a tool into .tools/ (idempotent, fast when done);
 * run only when present. They print the tool's path on stdout and progress on stderr.
 */
export const SCRIPTS = [
  { name: 'helm', file: 'scripts/helm.sh', args: ['version', '--short'] },
  { name: 'chart validators', file: 'scripts/ensure-chart-validators.sh', args: [] },
  { name: 'centrifugo', file: 'scripts/ensure-centrifugo.sh', args: [] },
];

const PLAYWRIGHT_CHROMIUM = 'pnpm --filter @chat/e2e exec playwright';

/**
 * `playwright install` arguments: with the system libraries where apt-get may be used.
 * @param {import('./system.mjs').SystemInfo} sys
 */
export function playwrightArgs(sys) {
  return ['install', ...(sys.os !== 'macos' && canUseApt(sys) ? ['--with-deps'] : []), 'chromium'];
}

/**
 * How the missing tools get installed on this machine: the apt packages, brew formulae and
 * whether Playwright downloads Chromium; `commands` is all of it as one command line for a
 * person, and `blocked` says why the preflight cannot run it itself (then it prints it).
 * @param {Tool[]} missing
 * @param {import('./system.mjs').SystemInfo} sys
 */
export function plan(missing, sys) {
  const chromium = missing.find((t) => t.name === 'chromium');
  const others = missing.filter((t) => t !== chromium);
  const aptOk = canUseApt(sys);
  /** @type {string[]} */
  const aptPackages = [];
  /** @type {string[]} */
  const formulae = [];
  /** @type {Tool[]} */
  const unknown = [];
  for (const tool of others) {
    if (sys.apt) aptPackages.push(...tool.apt);
    else if (sys.os === 'macos') formulae.push(...tool.brew);
    else unknown.push(tool);
  }
  let browserDownload = false;
  let chromiumBlocked = false;
  if (chromium) {
    // Debian packages Chromium; Ubuntu's package is a snap stub and macOS has no Homebrew
    // Chromium worth having, so those get Playwright's own build.
    if (sys.os === 'debian' && sys.apt && (aptOk || !sys.browserDownloadAllowed)) {
      aptPackages.push(...chromium.apt);
    } else if (sys.browserDownloadAllowed) browserDownload = true;
    else chromiumBlocked = true;
  }
  const apt = new Set(aptPackages);
  const brew = new Set(formulae);
  const commands = [
    ...(apt.size ? [aptInstallCommand([...apt], sys)] : []),
    ...(brew.size ? [`brew install ${[...brew].join(' ')}`] : []),
    ...(browserDownload ? [`${PLAYWRIGHT_CHROMIUM} ${playwrightArgs(sys).join(' ')}`] : []),
    ...(chromiumBlocked ? [`PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD= ${PLAYWRIGHT_CHROMIUM} install chromium`] : []),
    ...unknown.map((t) => `<your package manager> install ${t.name} (Debian's package: ${t.apt.join(' ')})`),
  ].join(' && ');
  /** @type {string | undefined} */
  let blocked;
  if (unknown.length) blocked = 'no apt-get or Homebrew on this machine';
  else if (apt.size && !aptOk) blocked = 'not root, and sudo cannot ask for a password here';
  else if (brew.size && !sys.brew) blocked = 'Homebrew is not installed (https://brew.sh)';
  else if (chromiumBlocked) blocked = 'PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD forbids the browser download';
  return { apt: [...apt], brew: [...brew], browserDownload, commands, blocked };
}
