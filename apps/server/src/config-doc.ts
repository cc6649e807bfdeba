import { readFileSync, writeFileSync } from 'node:fs';
import { describeConfig } from './config.js';

/** Markdown table of every setting, as embedded in README.md and kept in sync by a test. */
export function configTable(): string {
  const rows = describeConfig().map(
    (v) =>
      `| \`${v.name}\` | ${v.default === '' ? '(empty)' : `\`${String(v.default)}\``} | ${v.description} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

const README = new URL('../../../README.md', import.meta.url);
const SECTION = /(<!-- config:start -->\n)[\s\S]*?(\n<!-- config:end -->)/;

// `pnpm --filter @chat/server run config:doc` prints the table; with --write it updates README.md.
if (process.argv[1]?.endsWith('config-doc.ts')) {
  if (process.argv.includes('--write')) {
    const readme = readFileSync(README, 'utf8');
    writeFileSync(
      README,
      readme.replace(SECTION, (_m, start: string, end: string) => start + configTable() + end),
    );
  } else {
    process.stdout.write(`${configTable()}\n`);
  }
}
