import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every child process and temp dir of every cluster in this process, so they are released
 * whatever way the parent ends: a normal exit, an uncaught error, or SIGINT/SIGTERM/SIGHUP.
 * Children are spawned detached (their own process group) so a Ctrl-C in the terminal reaches
 * only the harness, which then decides how to stop them.
 *
 * A parent killed with SIGKILL cannot clean up; the next cluster started on this machine reaps
 * what it left (see reapOrphans).
 */
export const DIR_PREFIX = 'chat-cluster-';
const OWNER_FILE = 'owner.json';

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
const ownerFiles = new Map<string, () => number[]>();
let installed = false;

export function trackChild(child: ChildProcess): void {
  install();
  live.add(child);
  child.once('exit', () => live.delete(child));
  writeOwners();
}

export function trackDir(dir: string, pids: () => number[]): void {
  install();
  dirs.add(dir);
  ownerFiles.set(dir, pids);
  writeOwners();
}

export function releaseDir(dir: string, remove: boolean): void {
  dirs.delete(dir);
  ownerFiles.delete(dir);
  if (remove) rmSync(dir, { recursive: true, force: true });
}

/** Rewrites each cluster's owner.json with the live child pids (read by reapOrphans). */
export function writeOwners(): void {
  for (const [dir, pids] of ownerFiles) {
    try {
      writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid, children: pids() }));
    } catch {
      // the dir is being removed
    }
  }
}

function killAllSync(): void {
  for (const child of live) {
    try {
      child.kill('SIGCONT'); // a paused redis-server must run to die cleanly
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllSync);
  // An uncaught error that will crash the process (a test runner that keeps going handles it).
  process.on('uncaughtExceptionMonitor', () => {
    if (process.listenerCount('uncaughtException') === 0) killAllSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      // Someone else (the CLI, a test runner) handles this signal: let them stop the cluster.
      if (process.listenerCount(sig) > 1) return;
      killAllSync();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Exists and is not a zombie (orphans may stay unreaped where PID 1 does not reap). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust the signal
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/**
 * Kills the children of clusters whose parent died without cleaning up (SIGKILL, OOM) and
 * removes their temp dirs. Only pids whose command line is still a redis-server, a node
 * server or a prometheus are touched, so a recycled pid is left alone. Best effort, Linux /proc only.
 */
export function reapOrphans(): number {
  let reaped = 0;
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((e) => e.startsWith(DIR_PREFIX));
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const dir = join(tmpdir(), entry);
    const file = join(dir, OWNER_FILE);
    if (!existsSync(file)) continue;
    let owner: { pid: number; children: number[] };
    try {
      owner = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; children: number[] };
    } catch {
      continue;
    }
    if (owner.pid === process.pid || alive(owner.pid)) continue;
    for (const pid of owner.children) {
      if (!alive(pid)) continue;
      const cmd = commandLine(pid);
      if (!/redis-server|server\.js|prometheus/.test(cmd)) continue;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
        reaped++;
      } catch {
        // gone meanwhile
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return reaped;
}
