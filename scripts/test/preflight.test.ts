import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { detectSystem } from '../lib/system.mjs';
import { SCRIPTS, TOOLS } from '../lib/tools.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
const preflight = join(repoRoot, 'scripts/preflight.mjs');
const scratch = mkdtempSync(join(tmpdir(), 'preflight-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const res = spawnSync(process.execPath, [preflight, ...args], { encoding: 'utf8', env, timeout: 600_000 });
  return { status: res.status, lines: res.stdout.trim().split('\n'), stderr: res.stderr };
}

describe('the preflight of `pnpm test`', () => {
  it('reports every program the suite runs as found (or installed), one line each, and exits 0', () => {
    const { status, lines, stderr } = run([]);
    expect(status, `${lines.join('\n')}\n${stderr}`).toBe(0);
    const present = SCRIPTS.filter((s) => existsSync(join(repoRoot, s.file))).map((s) => s.name);
    const expected = ['node', 'dependencies', ...TOOLS.map((t) => t.name), ...present];
    const reported = lines.filter((l) => !l.startsWith('preflight:') && !l.startsWith('installing'));
    for (const name of expected) {
      expect(reported, `a line for ${name}`).toContainEqual(
        expect.stringMatching(new RegExp(`^${name}: (found|installed) \\S`)),
      );
    }
    // Paths and versions as the tools report them, e.g. "redis-server: found /usr/bin/redis-server 7.0.15".
    expect(lines).toContainEqual(
      expect.stringMatching(/^redis-server: (found|installed) \/\S+redis-server \d+\.\d+/),
    );
    expect(lines.at(-1)).toMatch(/^preflight: ok/);
  });

  it('where it may not install, stops with the exact command to run: exit 1, no stack trace', () => {
    // A PATH with only node (and apt-get, where this machine has it): everything is missing.
    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    if (existsSync('/usr/bin/apt-get')) symlinkSync('/usr/bin/apt-get', join(bin, 'apt-get'));
    const env = {
      PATH: bin,
      HOME: join(scratch, 'home'),
      PLAYWRIGHT_BROWSERS_PATH: join(scratch, 'no-browsers'),
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1',
    };
    const { status, lines, stderr } = run(['--check'], env);
    expect(status).toBe(1);
    for (const tool of TOOLS) expect(lines).toContain(`${tool.name}: missing`);
    const fix = lines.find((l) => l.startsWith('preflight: to fix it, run: '));
    expect(fix, lines.join('\n')).toBeDefined();
    if (existsSync('/usr/bin/apt-get') && process.getuid?.() === 0) {
      expect(fix).toBe(
        'preflight: to fix it, run: apt-get update && apt-get install -y --no-install-recommends redis-server redis-sentinel prometheus docker-compose chromium fonts-liberation',
      );
    }
    expect(`${lines.join('\n')}${stderr}`).not.toMatch(/^\s+at /m);
  });

  it('a CHROMIUM_PATH that is not a program stops it with what to do, before anything is installed', () => {
    const { status, lines } = run(['--check'], { ...process.env, CHROMIUM_PATH: join(scratch, 'no-chrome') });
    expect(status).toBe(1);
    expect(lines).toContain(
      `preflight: CHROMIUM_PATH=${join(scratch, 'no-chrome')} is not an executable file`,
    );
    expect(lines.at(-1)).toMatch(/^preflight: to fix it, run: unset CHROMIUM_PATH/);
  });
});

/** Links to every program on this machine's PATH except `hide`, in a directory of its own. */
function pathWithout(dir: string, hide: string[]): string {
  mkdirSync(dir, { recursive: true });
  const seen = new Set(hide);
  for (const from of (process.env.PATH ?? '').split(delimiter)) {
    let names: string[] = [];
    try {
      names = readdirSync(from);
    } catch {}
    for (const name of names.filter((n) => !seen.has(n))) {
      seen.add(name);
      symlinkSync(join(from, name), join(dir, name));
    }
  }
  return dir;
}

/**
 * An apt-get that logs its calls and "installs" redis-sentinel as a small script, but only
 * after an update (like a fresh image without package lists); `broken` makes installs fail.
 */
function fakeApt(dir: string, broken: boolean) {
  const bin = join(dir, 'fake');
  mkdirSync(bin, { recursive: true });
  const install = broken
    ? 'echo "E: Unable to fetch some archives" >&2; exit 100'
    : `[ -f "${dir}/updated" ] || { echo "E: Unable to locate package redis-sentinel" >&2; exit 100; }
    printf '#!/bin/sh\necho "Redis server v=7.2.4 sha=00000000:0"\n' > "${bin}/redis-sentinel"
    chmod +x "${bin}/redis-sentinel"`;
  writeFileSync(
    join(bin, 'apt-get'),
    `#!/bin/sh
echo "$*" >> "${dir}/apt.log"
case "$*" in
  update*) touch "${dir}/updated" ;;
  install*)
    ${install} ;;
esac
`,
  );
  chmodSync(join(bin, 'apt-get'), 0o755);
  return { bin, log: () => readFileSync(join(dir, 'apt.log'), 'utf8').trim().split('\n') };
}

const sys = detectSystem();
// The install path runs where the preflight itself would use apt-get without asking: CI.
describe.runIf(sys.apt && sys.root)('the preflight installing with apt-get (Debian/Ubuntu as root)', () => {
  it('installs what is missing, runs apt-get update once when the install needs it, reports it installed', () => {
    const dir = join(scratch, 'apt-ok');
    const apt = fakeApt(dir, false);
    const path = [apt.bin, pathWithout(join(dir, 'system'), ['redis-sentinel', 'apt-get'])].join(delimiter);
    const { status, lines, stderr } = run([], { ...process.env, PATH: path });
    expect(status, `${lines.join('\n')}\n${stderr}`).toBe(0);
    expect(lines).toContain('redis-sentinel: missing');
    expect(lines).toContain(
      'installing with apt-get: apt-get install -y -qq --no-install-recommends redis-sentinel',
    );
    expect(lines).toContain(`redis-sentinel: installed ${join(apt.bin, 'redis-sentinel')} 7.2.4`);
    expect(apt.log()).toEqual([
      'install -y -qq --no-install-recommends redis-sentinel',
      'update -qq',
      'install -y -qq --no-install-recommends redis-sentinel',
    ]);
    expect(lines.at(-1)).toMatch(/^preflight: ok/);
  });

  it("an install that fails stops with apt-get's reason and the command to run, exit 1", () => {
    const dir = join(scratch, 'apt-broken');
    const apt = fakeApt(dir, true);
    const path = [apt.bin, pathWithout(join(dir, 'system'), ['redis-sentinel', 'apt-get'])].join(delimiter);
    const { status, lines, stderr } = run([], { ...process.env, PATH: path });
    expect(status).toBe(1);
    expect(lines).toContain('E: Unable to fetch some archives');
    expect(lines.at(-1)).toBe(
      'preflight: to fix it, run: apt-get update && apt-get install -y --no-install-recommends redis-sentinel',
    );
    expect(apt.log().filter((l) => l.startsWith('update'))).toHaveLength(1);
    expect(`${lines.join('\n')}${stderr}`).not.toMatch(/^\s+at /m);
  });
});
