import { type ChildProcess, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** Every child process the bench started itself; all are killed when the bench exits, however it exits. */
const children = new Set<ChildProcess>();
let installed = false;

export function track(child: ChildProcess): ChildProcess {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function killTracked(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  children.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killTracked);
}

/** Resident set size of a process in bytes (VmRSS), or 0 when it is gone. */
export function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) of a process in seconds. */
export function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU time (seconds) the whole machine spent busy (all cores): user, nice, system, irq, softirq, steal. */
export function machineBusy(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)) / 100;
  } catch {
    return 0;
  }
}

/** Open file descriptors of a process. */
export function fdsOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Load averages as printed by `uptime`. */
export function loadAvg(): { one: number; five: number; fifteen: number; uptime: string } {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  let uptime = '';
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    uptime = '';
  }
  return { one: one ?? 0, five: five ?? 0, fifteen: fifteen ?? 0, uptime };
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  redis: string;
  kernel: string;
  fdLimit: number;
  load: ReturnType<typeof loadAvg>;
}

export function machine(): Machine {
  let redis = '';
  try {
    redis = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? '';
  } catch {
    redis = 'unknown';
  }
  let fdLimit = 0;
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    fdLimit = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 0);
  } catch {
    fdLimit = 0;
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '',
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    redis,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    fdLimit,
    load: loadAvg(),
  };
}

/** Other busy processes on the machine (not ours), to tell whether it is quiet enough to measure. */
export function busyProcesses(minCpuPercent = 20): string[] {
  // This process and its ancestors (npx, pnpm) are not "other" load.
  const mine = new Set<number>();
  for (let pid = process.pid; pid > 1 && !mine.has(pid); ) {
    mine.add(pid);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  try {
    const out = execFileSync('ps', ['-eo', 'pid,pcpu,comm', '--sort=-pcpu', '--no-headers'], {
      encoding: 'utf8',
    });
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .filter((l) => Number(l.split(/\s+/)[1]) >= minCpuPercent)
      .filter((l) => !mine.has(Number(l.split(/\s+/)[0])) && !/\bps$/.test(l));
  } catch {
    return [];
  }
}
