// `pnpm dev`: the chat server and the web app with hot reload, on one URL.
//
//   Vite (apps/web) on PORT (default 8080) serves the page with hot module reload and proxies
//   the WebSocket and the API to the chat server, which runs under `tsx watch` on a free
//   loopback port and restarts when its code (or a workspace package it imports) changes.
//
// Environment: PORT (default 8080), HOST (default localhost), and every server setting
// (REDIS_URL, LOG_LEVEL...), passed to the server. TOKEN_SECRET defaults to a secret kept in
// node_modules/.cache so tokens survive server restarts.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const webDir = `${root}apps/web`;
const serverDir = `${root}apps/server`;

/** @param {string} message @returns {never} */
function fail(message) {
  process.stderr.write(`dev: ${message}\n`);
  process.exit(1);
}

const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  fail(`PORT=${process.env.PORT} is not a port number`);
const host = process.env.HOST || 'localhost';
const tty = process.stdout.isTTY === true;

/** A free loopback port for the chat server behind Vite. @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const p = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(p));
    });
  });
}

/** One secret per checkout, so a token stays valid across the restarts of `tsx watch`. */
function devSecret() {
  if (process.env.TOKEN_SECRET) return process.env.TOKEN_SECRET;
  const dir = `${root}node_modules/.cache/chat-dev`;
  const file = `${dir}/token-secret`;
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved.length >= 32) return saved;
  }
  mkdirSync(dir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * Prefixes every line of a child's output, so the two streams stay readable together.
 * @param {NodeJS.ReadableStream} stream @param {string} label @param {NodeJS.WritableStream} out
 */
function relay(stream, label, out) {
  createInterface({ input: stream }).on('line', (line) => out.write(`${label} ${line}\n`));
}

const serverPort = await freePort();
const serverUrl = `http://127.0.0.1:${serverPort}`;
const requireServer = createRequire(`${serverDir}/package.json`);
const tsxCli = requireServer.resolve('tsx/cli');

const server = spawn(process.execPath, [tsxCli, 'watch', '--clear-screen=false', 'src/server.ts'], {
  cwd: serverDir,
  env: {
    ...process.env,
    PORT: String(serverPort),
    HOST: '127.0.0.1',
    TOKEN_SECRET: devSecret(),
    LOG_FORMAT: process.env.LOG_FORMAT ?? (tty ? 'pretty' : 'json'),
    ...(tty && !process.env.NO_COLOR ? { FORCE_COLOR: '1' } : {}),
    // The page's origin is Vite's; the proxy keeps the Host header, so same-origin checks pass.
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
relay(server.stdout, tty ? '\x1b[36mserver\x1b[0m │' : 'server │', process.stdout);
relay(server.stderr, tty ? '\x1b[36mserver\x1b[0m │' : 'server │', process.stderr);
let stopping = false;
server.once('exit', (code, signal) => {
  if (!stopping)
    fail(
      `the chat server stopped (${signal ?? `exit ${code}`}); fix the error above and run \`pnpm dev\` again`,
    );
});

process.env.CHAT_SERVER_URL = serverUrl;
const requireWeb = createRequire(`${webDir}/package.json`);
const vite = await import(pathToFileURL(requireWeb.resolve('vite')).href);
/** @type {{ listen(): Promise<unknown>, close(): Promise<void>, config: { server: { port?: number } } }} */
let web;
try {
  web = await vite.createServer({
    root: webDir,
    configFile: `${webDir}/vite.config.ts`,
    clearScreen: false,
    server: { port, strictPort: true, host },
  });
  await web.listen();
} catch (err) {
  server.kill('SIGTERM');
  const msg = err instanceof Error ? err.message : String(err);
  fail(
    /already in use|EADDRINUSE/.test(msg)
      ? `port ${port} is in use (PORT=${port}); stop the other process or set PORT, e.g. PORT=8081 pnpm dev`
      : /ENOTFOUND|EADDRNOTAVAIL/.test(msg)
        ? `cannot listen on HOST=${host}; use HOST=localhost or HOST=0.0.0.0`
        : msg,
  );
}

/** Resolves once the chat server answers /livez (it restarts under tsx watch: ask until then). */
async function serverUp(deadline = Date.now() + 30_000) {
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${serverUrl}/livez`)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

if (!(await serverUp())) fail('the chat server did not start within 30 s; see its output above');
const shown = `http://${host === '0.0.0.0' ? 'localhost' : host}:${web.config.server.port ?? port}`;
process.stdout.write(
  `\n  Chat (development): open ${shown}\n` +
    '  Web changes reload in the page; server changes restart the server. Ctrl-C stops both.\n\n',
);

async function stop() {
  if (stopping) process.exit(1);
  stopping = true;
  const exited = /** @type {Promise<void>} */ (
    new Promise((resolve) => {
      if (server.exitCode !== null || server.signalCode !== null) resolve();
      else server.once('exit', () => resolve());
    })
  );
  server.kill('SIGTERM');
  await Promise.allSettled([web.close(), exited]);
  if (tty && process.env.npm_lifecycle_event) {
    // pnpm saw the Ctrl-C too and reports the script as failed, whatever its exit code.
    process.stdout.write(
      '\n  Stopped cleanly (exit 0). A following "ELIFECYCLE Command failed" line is pnpm saying it was interrupted too; nothing went wrong.\n\n',
    );
  }
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
