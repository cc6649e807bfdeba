#!/usr/bin/env node
// `pnpm lint` step: no source file over MAX_LINES lines outside tests (architecture rule of
// README.md: a file past ~300 lines is asking to be split). Sources are the tracked .ts, .tsx,
// .mjs and .cjs files; tests are files named *.test.* / *.spec.* and anything under a test/,
// tests/ or e2e/ folder. Prints one line per offender and exits 1, or nothing and exits 0.
// Usage: node scripts/check-file-size.mjs [--max N] [--root DIR]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export const MAX_LINES = 300;
const SOURCE = /\.(ts|tsx|mjs|cjs)$/;
const TEST = /(^|\/)(test|tests|e2e)\/|\.(test|spec)\.[cm]?tsx?$|\.d\.ts$/;

/**
 * The source files of `root` (tracked, or new and not ignored) longer than `max` lines.
 * @param {string} root
 * @param {number} [max]
 * @returns {{ file: string, lines: number }[]}
 */
export function oversized(root, max = MAX_LINES) {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => SOURCE.test(f) && !TEST.test(f));
  /** @type {{ file: string, lines: number }[]} */
  const out = [];
  for (const f of files) {
    let text;
    try {
      text = readFileSync(join(root, f), 'utf8');
    } catch {
      continue; // deleted in the work tree, not yet in the index
    }
    const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
    if (lines > max) out.push({ file: f, lines });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { max: { type: 'string' }, root: { type: 'string' } } });
  const max = values.max ? Number(values.max) : MAX_LINES;
  const bad = oversized(values.root ?? process.cwd(), max);
  for (const { file, lines } of bad)
    console.error(`${file}: ${lines} lines (at most ${max} outside tests; split it)`);
  process.exit(bad.length ? 1 : 0);
}
