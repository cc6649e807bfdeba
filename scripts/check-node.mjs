// Run before anything that needs a newer Node (`pnpm dev`, `pnpm start`): older versions fail
// later with an unhelpful SyntaxError (a missing `node:util` export). Written for old Node too.
// Usage: node scripts/check-node.mjs [version]   (default: this Node's version)
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const wanted = String(pkg.engines.node).replace(/^>=\s*/, '');
const actual = String(process.argv[2] || process.versions.node).replace(/^v/, '');

/** @param {string} v @returns {[number, number, number]} */
const parts = (v) => {
  const [a, b, c] = v.split('.').map((n) => Number.parseInt(n, 10) || 0);
  return [a || 0, b || 0, c || 0];
};
const [wa, wb, wc] = parts(wanted);
const [aa, ab, ac] = parts(actual);
const older = aa !== wa ? aa < wa : ab !== wb ? ab < wb : ac < wc;

if (older) {
  process.stderr.write(
    `This project needs Node.js ${wanted} or newer; this is Node.js ${actual}. ` +
      `Install Node ${wanted}+ (e.g. \`nvm install 22\`) and run the command again.\n`,
  );
  process.exit(1);
}
