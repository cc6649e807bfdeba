// Bundles the server (and the workspace packages it imports, which are TypeScript sources)
// into dist/ so images run plain `node dist/server.js` with only npm dependencies beside it.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const external = Object.keys(pkg.dependencies).filter((d) => !d.startsWith('@chat/'));

await build({
  entryPoints: { server: 'src/server.ts', probe: 'src/probe.ts' },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  external: [...external, ...external.map((d) => `${d}/*`)],
  logLevel: 'warning',
});
