import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findChromium, playwrightCacheDir } from '../chromium.mjs';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chromium-find-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function executable(...parts: string[]): string {
  const file = join(dir, ...parts);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, '#!/bin/sh\necho Chromium 1.2.3\n');
  chmodSync(file, 0o755);
  return file;
}

/** An environment where nothing of this machine is visible. */
function env(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { PATH: join(dir, 'empty-bin'), HOME: join(dir, 'home'), ...extra };
}

describe('findChromium', () => {
  it('takes CHROMIUM_PATH first, even with a chromium on PATH', () => {
    const explicit = executable('custom', 'my-chrome');
    executable('bin', 'chromium');
    expect(findChromium(env({ CHROMIUM_PATH: explicit, PATH: join(dir, 'bin') }), 'linux')).toEqual({
      path: explicit,
      source: 'CHROMIUM_PATH',
    });
  });

  it('finds nothing when CHROMIUM_PATH is not an executable file (no silent fallback)', () => {
    executable('bin', 'chromium');
    const plain = join(dir, 'not-executable');
    writeFileSync(plain, '');
    expect(findChromium(env({ CHROMIUM_PATH: plain, PATH: join(dir, 'bin') }), 'linux')).toBeUndefined();
    expect(
      findChromium(env({ CHROMIUM_PATH: join(dir, 'nope'), PATH: join(dir, 'bin') }), 'linux'),
    ).toBeUndefined();
  });

  it('looks on PATH for chromium, then chromium-browser, then google-chrome (the name decides, not the PATH order)', () => {
    const chrome = executable('a', 'google-chrome');
    const browser = executable('b', 'chromium-browser');
    const path = [join(dir, 'a'), join(dir, 'b')].join(':');
    expect(findChromium(env({ PATH: path }), 'linux')).toEqual({ path: browser, source: 'PATH' });
    rmSync(browser);
    expect(findChromium(env({ PATH: path }), 'linux')).toEqual({ path: chrome, source: 'PATH' });
  });

  it("falls back to the newest Chromium in Playwright's cache (new and old layouts)", () => {
    const cache = join(dir, 'pw');
    executable('pw', 'chromium-1200', 'chrome-linux', 'chrome');
    const newest = executable('pw', 'chromium-1255', 'chrome-linux64', 'chrome');
    executable(
      'pw',
      'chromium-headless-shell-1300',
      'chrome-headless-shell-linux64',
      'chrome-headless-shell',
    );
    mkdirSync(join(cache, 'chromium-1400')); // an interrupted download: no executable inside
    expect(findChromium(env({ PLAYWRIGHT_BROWSERS_PATH: cache }), 'linux')).toEqual({
      path: newest,
      source: 'playwright cache',
    });
  });

  it("uses Playwright's default cache under HOME (Linux: XDG_CACHE_HOME or ~/.cache; macOS: ~/Library/Caches)", () => {
    const linux = executable('home', '.cache', 'ms-playwright', 'chromium-1255', 'chrome-linux64', 'chrome');
    expect(findChromium(env({}), 'linux')?.path).toBe(linux);
    const mac = executable(
      'home',
      'Library',
      'Caches',
      'ms-playwright',
      'chromium-1255',
      'chrome-mac-arm64',
      'Google Chrome for Testing.app',
      'Contents',
      'MacOS',
      'Google Chrome for Testing',
    );
    expect(findChromium(env({}), 'darwin')?.path).toBe(mac);
    expect(playwrightCacheDir({ HOME: '/h', XDG_CACHE_HOME: '/x' }, 'linux')).toBe('/x/ms-playwright');
  });

  it('finds nothing on a machine without any Chromium', () => {
    expect(findChromium(env({ PLAYWRIGHT_BROWSERS_PATH: join(dir, 'pw') }), 'linux')).toBeUndefined();
  });
});
