import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** bench/dist: the bundled entries of the child processes (plain `node file.js`, no loader). */
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const SRC = fileURLToPath(new URL('../', import.meta.url));

const ENTRIES = {
  worker: 'load/worker.ts',
  'socketio-server': 'systems/socketio-server.ts',
  'bare-server': 'systems/bare-server.ts',
  'prof-entry': 'systems/prof-entry.ts',
} as const;

export type Entry = keyof typeof ENTRIES;

export function distFile(entry: Entry): string {
  return `${DIST}${entry}.js`;
}

/**
 * Bundles the child-process entries with esbuild (workspace packages inlined, npm packages
 * left as imports resolved from bench/node_modules). Children then start in ~100 ms and run
 * no TypeScript loader next to the code being measured.
 */
export async function buildEntries(): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([k, v]) => [k, `${SRC}${v}`])),
    outdir: DIST,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
    external: ['socket.io', 'socket.io-client', '@socket.io/redis-adapter', 'ws', 'ioredis', 'fast-jwt'],
  });
  for (const e of Object.keys(ENTRIES) as Entry[]) {
    if (!existsSync(distFile(e)) || statSync(distFile(e)).size === 0) throw new Error(`bundle ${e} missing`);
  }
}
