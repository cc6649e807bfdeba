import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fetchToken } from '@chat/testkit';

/** One server process of the checkout under measurement, started for one attack. */
export const SECRET = 'attack-figures-secret-at-least-32-characters';

export interface Srv {
  pid: number;
  url: string;
  wsUrl: string;
  token(name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startServer(serverDir: string, env: Record<string, string>): Promise<Srv> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: serverDir,
    env: {
      ...process.env,
      PORT: '0',
      METRICS_PORT: '0',
      HOST: '127.0.0.1',
      TOKEN_SECRET: SECRET,
      DEV_TOKENS: 'true',
      DEV_TOKEN_RATE_PER_MIN: '1000000',
      HEARTBEAT_MS: '60000',
      ...env,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  let url = '';
  for await (const line of createInterface({ input: proc.stdout })) {
    const m = /chat ready at (http:\/\/[^"\s]+)/.exec(line);
    if (m?.[1]) {
      url = m[1];
      break;
    }
  }
  clearTimeout(timer);
  proc.stdout.resume();
  if (!url || proc.pid === undefined) throw new Error('server did not start');
  return {
    pid: proc.pid,
    url,
    wsUrl: `${url.replace('http', 'ws')}/ws`,
    token: (name) => fetchToken(url, name),
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** VmRSS in bytes, and CPU seconds (utime + stime), of a process, from /proc. */
export function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Samples the server's RSS every 50 ms until stopped; keeps the peak. */
export function sampleRss(pid: number): { stop(): number } {
  let peak = rss(pid);
  const t = setInterval(() => {
    try {
      peak = Math.max(peak, rss(pid));
    } catch {}
  }, 50);
  return {
    stop() {
      clearInterval(t);
      return peak;
    },
  };
}
