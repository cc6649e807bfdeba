/**
 * Centrifugo's pods: Go CPU profiles from its pprof endpoint (`debug.enabled`, here through
 * CENTRIFUGO_DEBUG_ENABLED), merged and read with `go tool pprof -top`.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ProfileEntry } from './entry.js';

const run = promisify(execFile);

/** Starts a CPU profile of `seconds` on every port; resolves with the files once all are written. */
export async function fetchProfiles(ports: number[], seconds: number, dir: string): Promise<string[]> {
  return Promise.all(
    ports.map(async (port) => {
      const res = await fetch(`http://127.0.0.1:${port}/debug/pprof/profile?seconds=${seconds}`, {
        signal: AbortSignal.timeout((seconds + 30) * 1000),
      });
      if (res.status !== 200) throw new Error(`pprof on ${port}: HTTP ${res.status}`);
      const file = join(dir, `${port}.pb.gz`);
      writeFileSync(file, Buffer.from(await res.arrayBuffer()));
      return file;
    }),
  );
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, min: 60_000, h: 3_600_000 };

function ms(value: string): number {
  const m = /^([\d.]+)([a-zµ]+)$/.exec(value.trim().replace('µs', 'us'));
  if (!m) return 0;
  return Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1);
}

/** Flat (self) time per function over the merged profiles, and the CPU time they sampled. */
export async function summarizePprof(
  files: string[],
  seconds: number,
): Promise<{ totalMs: number; busyMs: number; top: ProfileEntry[] }> {
  const { stdout } = await run('go', ['tool', 'pprof', '-top', '-nodecount=25', ...files], {
    maxBuffer: 8 << 20,
  });
  // "Duration: 60.13s, Total samples = 14.20s (23.62%)"
  const total = /Total samples = (\S+)/.exec(stdout)?.[1] ?? '0ms';
  const busyMs = ms(total);
  const top: ProfileEntry[] = [];
  for (const line of stdout.split('\n')) {
    // "     1.20s  8.45%  8.45%      1.50s 10.56%  syscall.Syscall6"
    const m = /^\s*(\S+)\s+([\d.]+)%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(.+)$/.exec(line);
    if (!m?.[1] || !m[3]) continue;
    const selfMs = Math.round(ms(m[1]));
    top.push({ fn: m[3].trim(), where: '(go)', selfMs, percent: Math.round(Number(m[2]) * 10) / 10 });
  }
  return { totalMs: Math.round(seconds * 1000 * files.length), busyMs: Math.round(busyMs), top };
}
