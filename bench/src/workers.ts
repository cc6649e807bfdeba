import { type ChildProcess, fork } from 'node:child_process';
import type { Command, Reply, Request, ResultOf } from './load/protocol.js';
import { track } from './proc.js';
import { distFile } from './systems/build.js';

/** The load processes: each holds a share of the clients and answers commands over IPC. */
export class Workers {
  private readonly procs: ChildProcess[] = [];
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  onProgress: ((p: { group: string; done: number; of: number }, worker: number) => void) | undefined;

  private constructor() {}

  static async start(count: number): Promise<Workers> {
    const w = new Workers();
    for (let i = 0; i < count; i++) {
      const proc = track(
        fork(distFile('worker'), [], {
          env: { ...process.env, BENCH_WORKER_ID: String(i) },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          serialization: 'advanced',
        }),
      );
      proc.on('message', (m: Reply) => w.onReply(m, i));
      proc.once('exit', (code, signal) => {
        for (const [id, p] of w.waiting) {
          p.reject(new Error(`load worker ${i} exited (${code ?? signal}) during a command`));
          w.waiting.delete(id);
        }
      });
      w.procs.push(proc);
    }
    return w;
  }

  get size(): number {
    return this.procs.length;
  }

  get pids(): number[] {
    return this.procs.map((p) => p.pid).filter((p): p is number => p !== undefined);
  }

  call<C extends Command>(i: number, cmd: C): Promise<ResultOf<C>> {
    const proc = this.procs[i];
    if (!proc?.connected) return Promise.reject(new Error(`load worker ${i} is not running`));
    const id = this.nextId++;
    const req: Request = { id, cmd };
    return new Promise<ResultOf<C>>((resolve, reject) => {
      // The load process answers with Results[cmd.t] (see handlers in load/worker.ts).
      this.waiting.set(id, { resolve: (v) => resolve(v as ResultOf<C>), reject });
      proc.send(req);
    });
  }

  /** The same command (or one per worker) to every worker; resolves with every answer. */
  all<C extends Command>(cmd: C | ((i: number) => C)): Promise<ResultOf<C>[]> {
    return Promise.all(this.procs.map((_, i) => this.call(i, typeof cmd === 'function' ? cmd(i) : cmd)));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
            p.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (p.connected) p.disconnect();
            else p.kill('SIGKILL');
          }),
      ),
    );
  }

  private onReply(m: Reply, worker: number): void {
    if ('progress' in m) {
      this.onProgress?.(m.progress, worker);
      return;
    }
    const p = this.waiting.get(m.id);
    if (!p) return;
    this.waiting.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`load worker ${worker}: ${m.error}`));
  }
}

/** Splits [0, total) into `parts` contiguous ranges. */
export function split(total: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < parts; i++) {
    out.push([Math.floor((total * i) / parts), Math.floor((total * (i + 1)) / parts)]);
  }
  return out;
}
