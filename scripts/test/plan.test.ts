import { describe, expect, it } from 'vitest';
import { osFamilyFromRelease, parseVersion, type SystemInfo } from '../lib/system.mjs';
import { plan, TOOLS } from '../lib/tools.mjs';

const tool = (name: string) => {
  const found = TOOLS.find((t) => t.name === name);
  if (!found) throw new Error(`no tool ${name}`);
  return found;
};
const all = TOOLS.map((t) => t.name);
const missing = (...names: string[]) => names.map(tool);

const debianRoot: SystemInfo = {
  os: 'debian',
  root: true,
  apt: true,
  brew: undefined,
  sudo: 'none',
  browserDownloadAllowed: false,
};

describe('plan: how the missing tools get installed', () => {
  it('Debian as root (CI): one apt-get install of every package, Chromium included', () => {
    const steps = plan(missing(...all), debianRoot);
    expect(steps).toEqual({
      apt: ['redis-server', 'redis-sentinel', 'prometheus', 'docker-compose', 'chromium', 'fonts-liberation'],
      brew: [],
      browserDownload: false,
      blocked: undefined,
      commands:
        'apt-get update && apt-get install -y --no-install-recommends redis-server redis-sentinel prometheus docker-compose chromium fonts-liberation',
    });
  });

  it('Debian without root or usable sudo: blocked, with the one sudo apt-get command to run', () => {
    const sys: SystemInfo = { ...debianRoot, root: false, sudo: 'unavailable' };
    const steps = plan(missing('redis-server', 'chromium'), sys);
    expect(steps.blocked).toMatch(/not root/);
    expect(steps.commands).toBe(
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends redis-server chromium fonts-liberation',
    );
  });

  it("Debian without root, only Chromium missing, downloads allowed: Playwright's build, no root needed", () => {
    const sys: SystemInfo = { ...debianRoot, root: false, sudo: 'unavailable', browserDownloadAllowed: true };
    expect(plan(missing('chromium'), sys)).toMatchObject({
      apt: [],
      browserDownload: true,
      blocked: undefined,
      commands: 'pnpm --filter @chat/e2e exec playwright install chromium',
    });
  });

  it('Debian with passwordless sudo installs through sudo apt-get', () => {
    const steps = plan(missing('promtool'), { ...debianRoot, root: false, sudo: 'passwordless' });
    expect(steps).toMatchObject({ apt: ['prometheus'], blocked: undefined });
    expect(steps.commands).toBe(
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus',
    );
  });

  it("Ubuntu as root: apt-get for Redis, Playwright's Chromium with its system libraries", () => {
    const steps = plan(missing('redis-server', 'chromium'), {
      ...debianRoot,
      os: 'ubuntu',
      browserDownloadAllowed: true,
    });
    expect(steps).toMatchObject({ apt: ['redis-server'], browserDownload: true, blocked: undefined });
    expect(steps.commands).toContain('pnpm --filter @chat/e2e exec playwright install --with-deps chromium');
  });

  it('Ubuntu with browser downloads disabled: blocked, with the download command to run', () => {
    const steps = plan(missing('chromium'), { ...debianRoot, os: 'ubuntu' });
    expect(steps.browserDownload).toBe(false);
    expect(steps.blocked).toMatch(/PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD/);
    expect(steps.commands).toBe(
      'PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD= pnpm --filter @chat/e2e exec playwright install chromium',
    );
  });

  it("macOS with Homebrew: brew formulae (redis once for both binaries), Playwright's Chromium", () => {
    const mac: SystemInfo = {
      os: 'macos',
      root: false,
      apt: false,
      brew: '/opt/homebrew/bin/brew',
      sudo: 'none',
      browserDownloadAllowed: true,
    };
    expect(plan(missing(...all), mac)).toEqual({
      apt: [],
      brew: ['redis', 'prometheus', 'docker-compose'],
      browserDownload: true,
      blocked: undefined,
      commands:
        'brew install redis prometheus docker-compose && pnpm --filter @chat/e2e exec playwright install chromium',
    });
    const noBrew = plan(missing('redis-server'), { ...mac, brew: undefined });
    expect(noBrew).toMatchObject({
      blocked: expect.stringMatching(/brew\.sh/),
      commands: 'brew install redis',
    });
  });

  it('elsewhere (no apt-get, no brew): blocked, naming the Debian package to look for', () => {
    const other: SystemInfo = { ...debianRoot, os: 'linux', apt: false };
    expect(plan(missing('redis-sentinel'), other)).toMatchObject({
      blocked: expect.stringMatching(/no apt-get or Homebrew/),
      commands: "<your package manager> install redis-sentinel (Debian's package: redis-sentinel)",
    });
  });
});

describe('machine facts', () => {
  it('reads the version out of each tool’s own format', () => {
    expect(parseVersion('Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0')).toBe('7.0.15');
    expect(parseVersion('prometheus, version 2.42.0+ds (branch: debian/sid)')).toBe('2.42.0+ds');
    expect(parseVersion('Chromium 156.0.8078.114 built on Debian GNU/Linux 12')).toBe('156.0.8078.114');
    expect(parseVersion('Docker Compose version v2.29.1')).toBe('2.29.1');
    expect(parseVersion('no digits here')).toBeUndefined();
  });

  it('tells Debian from Ubuntu and derivatives by ID and ID_LIKE', () => {
    expect(osFamilyFromRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')).toBe('debian');
    expect(osFamilyFromRelease('ID=ubuntu\nID_LIKE=debian\n')).toBe('ubuntu');
    expect(osFamilyFromRelease('ID=linuxmint\nID_LIKE="ubuntu debian"\n')).toBe('ubuntu');
    expect(osFamilyFromRelease('ID=raspbian\nID_LIKE=debian\n')).toBe('debian');
    expect(osFamilyFromRelease('ID="fedora"\n')).toBe('linux');
  });
});
