#!/usr/bin/env node
// `npm start` / `pnpm start` from a fresh clone with only Node (its version checked first by
// scripts/check-node.mjs): installs the dependencies when node_modules is missing or older
// than pnpm-lock.yaml (fetching the pinned pnpm through npx when there is none), builds the
// server and the web app, then serves the chat on the embedded memory broker (REDIS_URL
// switches to Redis) and prints the URL.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installReason, markInstalled, resolvePnpm } from './lib/pnpm.mjs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const APP_PACKAGES = ['apps/server', 'apps/web'];

/** @param {string} line */
const say = (line) => process.stdout.write(`start: ${line}\n`);

/** @param {import('./lib/pnpm.mjs').PnpmCommand} pnpm @param {string[]} args */
function runPnpm(pnpm, args) {
  say(`${pnpm.label} ${args.join(' ')}`);
  const res = spawnSync(pnpm.cmd, [...pnpm.args, ...args], { cwd: repoRoot, stdio: 'inherit' });
  if (res.status !== 0) {
    say(`\`${pnpm.label} ${args.join(' ')}\` failed${res.error ? `: ${res.error.message}` : ''}`);
    process.exit(res.status || 1);
  }
}

const pnpm = resolvePnpm(repoRoot);
const reason = installReason(repoRoot, APP_PACKAGES);
if (reason) {
  say(`installing dependencies (${reason})`);
  runPnpm(pnpm, ['install', '--frozen-lockfile']);
  markInstalled(repoRoot);
}
// The server bundle and the web app, with whatever workspace packages they build from.
runPnpm(pnpm, ['--filter', '@chat/server...', '--filter', '@chat/web...', 'run', 'build']);

say(`serving the chat (${process.env.REDIS_URL ? 'Redis broker: REDIS_URL' : 'embedded memory broker'})`);
// The server gets its own process group: a Ctrl-C reaches it once, through the forwarding
// below, even though npm and the terminal both deliver it here (its second SIGINT means "now").
const server = spawn(process.execPath, [join(repoRoot, 'apps/server/dist/server.js')], {
  cwd: repoRoot,
  stdio: 'inherit',
  detached: true,
});
/** @type {Map<string, number>} */
const lastForwarded = new Map();
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.on(signal, () => {
    const now = Date.now();
    // One keypress arrives twice (terminal and npm) within milliseconds; a later one is forwarded.
    if (now - (lastForwarded.get(signal) ?? 0) < 1000) return;
    lastForwarded.set(signal, now);
    server.kill(signal);
  });
}
server.on('exit', (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
});
