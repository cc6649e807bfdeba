// Where the Chromium for the e2e tests is: the one place that knows, used by the preflight
// (scripts/preflight.mjs) and by e2e/playwright.config.ts. Plain Node, no dependencies.
// Order: $CHROMIUM_PATH, then chromium / chromium-browser / google-chrome on PATH, then the
// newest Chromium that `playwright install chromium` put in Playwright's cache.
import { readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findOnPath, isExecutableFile } from './lib/which.mjs';

export const CHROMIUM_PATH_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** Inside Playwright's chromium-<revision>/ directory, per platform (old and new layouts). */
const CACHE_EXECUTABLES = {
  linux: [
    ['chrome-linux64', 'chrome'],
    ['chrome-linux-arm64', 'chrome'],
    ['chrome-linux', 'chrome'],
  ],
  darwin: [
    ['chrome-mac-arm64', 'Google Chrome for Testing.app', 'Contents', 'MacOS', 'Google Chrome for Testing'],
    ['chrome-mac-x64', 'Google Chrome for Testing.app', 'Contents', 'MacOS', 'Google Chrome for Testing'],
    ['chrome-mac', 'Chromium.app', 'Contents', 'MacOS', 'Chromium'],
  ],
};

/**
 * @typedef {{ path: string, source: 'CHROMIUM_PATH' | 'PATH' | 'playwright cache' }} ChromiumLocation
 */

/**
 * Playwright's browser cache, as Playwright computes it.
 * @param {NodeJS.ProcessEnv} env
 * @param {NodeJS.Platform} platform
 */
export function playwrightCacheDir(env = process.env, platform = process.platform) {
  const custom = env.PLAYWRIGHT_BROWSERS_PATH;
  if (custom && custom !== '0') return custom;
  const home = env.HOME || homedir();
  if (platform === 'darwin') return join(home, 'Library', 'Caches', 'ms-playwright');
  return join(env.XDG_CACHE_HOME || join(home, '.cache'), 'ms-playwright');
}

/**
 * @param {NodeJS.ProcessEnv} env
 * @param {NodeJS.Platform} platform
 */
function findInPlaywrightCache(env, platform) {
  const root = playwrightCacheDir(env, platform);
  const layouts = CACHE_EXECUTABLES[/** @type {'linux' | 'darwin'} */ (platform)] ?? [];
  let entries;
  try {
    entries = readdirSync(root);
  } catch {
    return undefined;
  }
  const revisions = entries
    .map((name) => /^chromium-(\d+)$/.exec(name))
    .filter((m) => m !== null)
    .map((m) => ({ dir: m[0], revision: Number(m[1]) }))
    .sort((a, b) => b.revision - a.revision);
  for (const { dir } of revisions) {
    for (const layout of layouts) {
      const candidate = join(root, dir, ...layout);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * @param {NodeJS.ProcessEnv} [env]
 * @param {NodeJS.Platform} [platform]
 * @returns {ChromiumLocation | undefined}
 */
export function findChromium(env = process.env, platform = process.platform) {
  const explicit = env.CHROMIUM_PATH;
  if (explicit) return isExecutableFile(explicit) ? { path: explicit, source: 'CHROMIUM_PATH' } : undefined;
  for (const name of CHROMIUM_PATH_NAMES) {
    const found = findOnPath(name, env);
    if (found) return { path: found, source: 'PATH' };
  }
  const cached = findInPlaywrightCache(env, platform);
  return cached ? { path: cached, source: 'playwright cache' } : undefined;
}
