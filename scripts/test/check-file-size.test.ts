import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_LINES, oversized } from '../check-file-size.mjs';

const script = fileURLToPath(new URL('../check-file-size.mjs', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'file-size-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = (n: number) =>
  `${Array.from({ length: n }, (_, i) => `export const x${i} = ${i};`).join('\n')}\n`;
function put(file: string, text: string) {
  mkdirSync(dirname(join(dir, file)), { recursive: true });
  writeFileSync(join(dir, file), text);
}

describe('check-file-size.mjs (run by `pnpm lint`)', () => {
  execFileSync('git', ['init', '-q'], { cwd: dir });
  put('src/ok.ts', lines(MAX_LINES));
  put('src/long.ts', lines(MAX_LINES + 1));
  put('src/long.tsx', lines(MAX_LINES + 40));
  put('scripts/long.mjs', lines(MAX_LINES + 2));
  put('src/long.test.ts', lines(900));
  put('test/helpers.ts', lines(900));
  put('e2e/tests/a.spec.ts', lines(900));
  put('src/types.d.ts', lines(900));
  put('README.md', lines(900));
  put('.gitignore', 'dist/\n');
  put('dist/bundle.mjs', lines(900));

  it('names every source file over the limit and nothing else', () => {
    expect(oversized(dir)).toEqual(
      expect.arrayContaining([
        { file: 'src/long.ts', lines: MAX_LINES + 1 },
        { file: 'src/long.tsx', lines: MAX_LINES + 40 },
        { file: 'scripts/long.mjs', lines: MAX_LINES + 2 },
      ]),
    );
    expect(oversized(dir)).toHaveLength(3);
  });

  it('exits 1 with one line per offender, 0 when none', () => {
    const run = spawnSync(process.execPath, [script, '--root', dir], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n').sort()).toEqual([
      `scripts/long.mjs: ${MAX_LINES + 2} lines (at most ${MAX_LINES} outside tests; split it)`,
      `src/long.ts: ${MAX_LINES + 1} lines (at most ${MAX_LINES} outside tests; split it)`,
      `src/long.tsx: ${MAX_LINES + 40} lines (at most ${MAX_LINES} outside tests; split it)`,
    ]);
    const fine = spawnSync(process.execPath, [script, '--root', dir, '--max', '2000'], { encoding: 'utf8' });
    expect([fine.status, fine.stderr]).toEqual([0, '']);
  });

  it('this repository has none', () => {
    expect(oversized(repoRoot)).toEqual([]);
  });
});
