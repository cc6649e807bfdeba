import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants as osConstants } from 'node:os';

/** A shell command run as a person would in a terminal, in its own process group. */
export class Command {
  output = '';
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(
    readonly line: string,
    cwd: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.proc = spawn('bash', ['-c', line], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const add = (d: Buffer) => {
      this.output += d.toString();
    };
    this.proc.stdout?.on('data', add);
    this.proc.stderr?.on('data', add);
    // As a shell reports it: a death by signal is 128 + its number (Ctrl-C: 130).
    this.exited = once(this.proc, 'exit').then(([code, signal]) =>
      code === null && typeof signal === 'string'
        ? 128 + (osConstants.signals[signal as NodeJS.Signals] ?? 0)
        : (code as number | null),
    );
  }

  /** Resolves with the first match of `pattern` in the output; rejects if the command ends first. */
  waitFor(pattern: RegExp, timeoutMs = 120_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(this.output);
        if (!m) return;
        cleanup();
        resolve(m);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`\`${this.line}\` printed no ${pattern} within ${timeoutMs} ms:\n${this.output}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.proc.stdout?.off('data', check);
        this.proc.stderr?.off('data', check);
      };
      this.proc.stdout?.on('data', check);
      this.proc.stderr?.on('data', check);
      void this.exited.then((code) => {
        if (pattern.test(this.output)) return check();
        cleanup();
        reject(new Error(`\`${this.line}\` exited (${code}) before printing ${pattern}:\n${this.output}`));
      });
      check();
    });
  }

  /** Ctrl-C: SIGINT to the whole group, as a terminal does; resolves with the exit code. */
  async interrupt(): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid) {
      try {
        process.kill(-this.proc.pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
    return this.exited;
  }

  /**
   * Whatever is left, at once (after a failure): the group, and every server that logged its
   * pid (`npm start` runs the server in a process group of its own).
   */
  kill(): void {
    const pids = [...this.output.matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1]));
    for (const pid of new Set([this.proc.pid ? -this.proc.pid : 0, ...pids])) {
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
