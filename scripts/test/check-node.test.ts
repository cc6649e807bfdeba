import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../check-node.mjs', import.meta.url));
const check = (version: string) => spawnSync(process.execPath, [script, version], { encoding: 'utf8' });

describe('check-node.mjs (run first by `pnpm dev`)', () => {
  it('refuses an older Node with one line naming the required version, exit 1', () => {
    for (const version of ['18.20.4', 'v20.18.3', '20.12.0']) {
      const run = check(version);
      expect(run.status, version).toBe(1);
      expect(run.stderr.trim().split('\n')).toEqual([
        expect.stringContaining(`needs Node.js 20.19 or newer; this is Node.js ${version.replace(/^v/, '')}`),
      ]);
    }
  });

  it('accepts 20.19 and newer silently', () => {
    for (const version of ['20.19.0', '20.20.1', '22.0.0', '24.3.0']) {
      const run = check(version);
      expect(run.status, version).toBe(0);
      expect(run.stderr).toBe('');
    }
    expect(spawnSync(process.execPath, [script]).status).toBe(0); // this Node
  });
});
