// Command one on a fresh machine: a clone of this repository at HEAD (commit what you want
// tested), no node_modules, and a PATH without pnpm; `npm start` must install, build, serve
// the chat and print its URL.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
const scratch = mkdtempSync(join(tmpdir(), 'fresh-clone-'));
let started: ChildProcess | undefined;
let serverPid: number | undefined;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterAll(() => {
  // Whatever is still running after a failure: the npm group, then the server's own group.
  for (const pid of [started?.pid, serverPid]) {
    if (pid && alive(pid)) process.kill(-pid, 'SIGKILL');
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** `git clone` of HEAD; a checkout without .git is copied without its build outputs. */
function freshCopy(dest: string) {
  try {
    execFileSync('git', ['-C', repoRoot, 'rev-parse', '--git-dir'], { stdio: 'ignore' });
  } catch {
    const skip = new Set(['node_modules', 'dist', '.tools', 'test-results', 'playwright-report']);
    cpSync(repoRoot, dest, { recursive: true, filter: (src) => !skip.has(src.split('/').pop() ?? '') });
    return;
  }
  execFileSync('git', ['clone', '--quiet', repoRoot, dest]);
}

/** This machine's PATH minus pnpm: a directory of links to every other program on it. */
function pathWithoutPnpm(): string {
  const bin = join(scratch, 'bin');
  mkdirSync(bin);
  const seen = new Set(['pnpm', 'pnpx', 'corepack']);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (seen.has(name)) continue;
      seen.add(name);
      symlinkSync(join(dir, name), join(bin, name));
    }
  }
  return bin;
}

/** The environment of a new shell: none of the npm_* / pnpm variables of the running test. */
function freshEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_)/i.test(key) || key === 'NODE_OPTIONS' || key === 'NODE_ENV') continue;
    if (key.startsWith('VITEST') || key === 'TEST') continue;
    env[key] = value;
  }
  return { ...env, PATH: path, PORT: '0', HOST: '127.0.0.1' };
}

it('`npm start` on a fresh clone with no pnpm installs, builds, serves the chat and prints the URL', async () => {
  const clone = join(scratch, 'repo');
  freshCopy(clone);
  const t0 = performance.now();
  const child = spawn('npm', ['start'], {
    cwd: clone,
    env: freshEnv(pathWithoutPnpm()),
    detached: true, // its own process group, stopped as a whole below
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started = child;
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /chat ready at (http:\/\/[^"\s]+)/.exec(output);
      if (m?.[1]) resolve(m[1]);
    };
    child.stdout?.on('data', check);
    void exited.then((code) => reject(new Error(`npm start exited (${code}) before serving:\n${output}`)));
  });
  const page = await fetch(url, { headers: { accept: 'text/html' } });
  const html = await page.text();
  const firstPage = (performance.now() - t0) / 1000;
  console.log(`fresh clone -> first page: ${firstPage.toFixed(1)} s`);

  expect(page.status).toBe(200);
  expect(html).toContain('<div id="root">');
  // The built web app (not the server's "web app is not built" text): its bundle is served.
  const bundle = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  expect(bundle, html).toBeDefined();
  const js = await fetch(new URL(bundle ?? '', url));
  expect(js.status).toBe(200);
  expect(js.headers.get('content-type')).toMatch(/javascript/);
  expect((await js.text()).length).toBeGreaterThan(1000);

  // It installed with the pinned pnpm fetched through npx, since there was none.
  expect(output).toContain('start: installing dependencies (node_modules is missing)');
  expect(output).toMatch(/start: npx pnpm@\d+\.\d+\.\d+ install --frozen-lockfile/);

  // Ctrl-C: SIGINT to the whole group; the server drains and everything exits.
  serverPid = Number(/"pid":(\d+)[^\n]*chat ready at/.exec(output)?.[1]);
  expect(alive(serverPid)).toBe(true);
  process.kill(-(child.pid ?? 0), 'SIGINT');
  await exited;
  await expect.poll(() => alive(serverPid ?? 0), { timeout: 15_000 }).toBe(false);
  expect(output).toContain('drained, exiting');
  expect(output).not.toContain('second signal');
}, 300_000);
