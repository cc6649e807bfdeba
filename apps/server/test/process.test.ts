import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fetchToken, freePort } from '@chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, TestClient } from './harness.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the server until it exits by itself (it is killed after 15 s). */
function runToExit(env: Record<string, string>): Promise<Run> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, HOST: '127.0.0.1', TOKEN_SECRET: SECRET, LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  return new Promise((resolve) =>
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('start-up mistakes get one line naming the variable, and a non-zero exit', () => {
  let taken: Server;
  let port = 0;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    port = (taken.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  it('a port in use', async () => {
    const run = await runToExit({ PORT: String(port) });
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toEqual([expect.stringContaining(`port ${port} is in use (PORT=${port})`)]);
    expect(run.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
  });

  it('a HOST that is not an address of this machine', async () => {
    const run = await runToExit({ PORT: '0', HOST: 'no-such-host.invalid' });
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toEqual([expect.stringContaining('cannot listen on HOST=no-such-host.invalid')]);
  });
});

describe('logs', () => {
  let webRoot: string;
  beforeAll(() => {
    webRoot = mkdtempSync(join(tmpdir(), 'chat-web-'));
    mkdirSync(join(webRoot, 'assets'));
    writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(webRoot, 'assets', 'app.js'), 'console.log(1)');
  });
  afterAll(() => rmSync(webRoot, { recursive: true, force: true }));

  /** Starts the server, runs `work` against it, stops it with SIGINT; resolves with its stdout. */
  async function session(env: Record<string, string>, work: (url: string) => Promise<void>) {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', WEB_ROOT: webRoot, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    try {
      let url = '';
      const reader = createInterface({ input: proc.stdout });
      reader.on('line', (l) => lines.push(l));
      await new Promise<void>((resolve) => {
        const onLine = (l: string) => {
          const m = /chat ready at (http:\/\/[\d.:]+)/.exec(l);
          if (m?.[1]) {
            url = m[1];
            reader.off('line', onLine);
            resolve();
          }
        };
        reader.on('line', onLine);
      });
      await work(url);
      proc.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
    return lines;
  }

  async function chat(url: string): Promise<void> {
    expect((await fetch(`${url}/assets/app.js`)).status).toBe(200);
    expect((await fetch(`${url}/`)).status).toBe(200);
    const token = await fetchToken(url, 'loggy');
    const c = await TestClient.connect(`${url.replace('http', 'ws')}/ws`, token);
    await c.join('general');
    c.send({ type: 'leave', room: 'general' });
    await c.next('left');
    await c.close();
    // The close is logged when the server sees it: a request after it is logged later.
    await fetch(`${url}/api/nothing`);
  }

  it('JSON when stdout is not a terminal: API calls and socket events at info, static files not', async () => {
    const lines = await session({ TOKEN_SECRET: SECRET }, chat);
    const entries = lines.map((l) => JSON.parse(l) as { level: number; msg: string; [k: string]: unknown });
    const info = entries.filter((e) => e.level >= 30).map((e) => e.msg);
    expect(info).toContain('POST /api/token 200');
    expect(info.some((m) => m.includes('app.js'))).toBe(false);
    expect(info).not.toContain('GET / 200');
    expect(info).not.toContain('incoming request');
    expect(info).toEqual(
      expect.arrayContaining([
        'connection opened',
        'joined #general',
        'left #general',
        'connection closed 1000',
      ]),
    );
    const order = ['connection opened', 'joined #general', 'left #general', 'connection closed 1000'].map(
      (m) => info.indexOf(m),
    );
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(info).toEqual(expect.arrayContaining(['draining', 'drained, exiting']));
  });

  it('a Redis on a wrong port: a clear error naming it, never "broker ready"', async () => {
    const port = await freePort();
    const lines = await session(
      { TOKEN_SECRET: SECRET, REDIS_URL: `redis://127.0.0.1:${port}` },
      async (url) => {
        expect((await fetch(`${url}/readyz`)).status).toBe(503);
      },
    );
    const entries = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    const errors = entries.filter((e) => e.level >= 50).map((e) => e.msg);
    expect(errors).toEqual([
      `cannot reach Redis at 127.0.0.1:${port} (ECONNREFUSED): serving anyway, but readiness is 503 and clients are told the chat service is degraded until it answers`,
    ]);
    expect(entries.some((e) => e.msg.startsWith('broker ready'))).toBe(false);
    // Retried every second, but the same error is logged once.
    expect(entries.filter((e) => e.msg === 'redis connection error').length).toBeLessThanOrEqual(2);
  });

  it('LOG_FORMAT=pretty: one readable line each, no TOKEN_SECRET warning in development', async () => {
    const lines = await session({ LOG_FORMAT: 'pretty', TOKEN_SECRET: '', NO_COLOR: '1' }, chat);
    expect(lines.some((l) => l.startsWith('{'))).toBe(false);
    expect(lines).toContainEqual(expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}chat ready at http/));
    expect(lines).toContainEqual(
      expect.stringMatching(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}connection closed 1000 .*code=1000/),
    );
    expect(lines.filter((l) => / WARN /.test(l))).toEqual([]);
  });
});
