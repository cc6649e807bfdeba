import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { reapOrphans } from '@chat/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { alive } from './client.js';

const fixture = fileURLToPath(new URL('./fixtures/parent.ts', import.meta.url));
const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const parents: ChildProcess[] = [];

afterEach(() => {
  for (const p of parents.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
});

/** Starts the fixture and resolves with the pids it reports. */
function parent(
  mode: string,
): Promise<{ proc: ChildProcess; pids: number[]; dir: string; exited: Promise<unknown> }> {
  // node --import tsx (not the tsx wrapper) so the pid is the harness process itself.
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture, mode], {
    cwd: pkgDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  parents.push(proc);
  const exited = new Promise((r) => proc.once('exit', r));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        const info = JSON.parse(line) as { pids: number[]; dir: string };
        resolve({ proc, ...info, exited });
      }
    });
    proc.once('exit', (code) => reject(new Error(`fixture exited ${code} before reporting: ${err}`)));
  });
}

describe('children never outlive the harness', () => {
  for (const mode of ['throw', 'exit', 'SIGINT', 'SIGTERM']) {
    it(`parent ends by ${mode}: every child is killed and the temp dir removed`, async () => {
      const { proc, pids, dir, exited } = await parent(mode.startsWith('SIG') ? 'wait' : mode);
      expect(pids).toHaveLength(2);
      if (mode.startsWith('SIG')) proc.kill(mode as NodeJS.Signals);
      await exited;
      await expect.poll(() => pids.filter(alive)).toEqual([]);
      expect(existsSync(dir)).toBe(false);
    });
  }

  it('a parent killed with SIGKILL leaves orphans that the next cluster reaps', async () => {
    const { proc, pids, dir, exited } = await parent('wait');
    proc.kill('SIGKILL');
    await exited;
    expect(pids.every(alive)).toBe(true);
    expect(reapOrphans()).toBeGreaterThanOrEqual(2);
    await expect.poll(() => pids.filter(alive)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});
