/** Workload 3: RSS per idle connection at N connections per pod. */
import type { BenchConfig } from '../config.js';
import type { GroupSpec } from '../load/protocol.js';
import { fdsOf, rssOf, sleep } from '../proc.js';
import type { Log, MemoryLevel, MemoryPod, MemoryResult } from '../results.js';
import type { RunningSystem } from '../systems/index.js';
import { Workers } from '../workers.js';
import { cores, cpuSample, openGroup } from './common.js';

async function sampleRss(pids: (number | undefined)[], samples: number, everyMs: number): Promise<number[]> {
  const all: number[][] = pids.map(() => []);
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(everyMs);
    for (const [j, pid] of pids.entries()) all[j]?.push(rssOf(pid));
  }
  return all.map((xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] ?? 0;
  });
}

export async function memory(sys: RunningSystem, cfg: BenchConfig, log: Log): Promise<MemoryResult> {
  const m = cfg.memory;
  const podsN = sys.pods.length;
  await sleep(Math.min(2000, m.settleMs));
  const pids = sys.pods.map((p) => p.pid);
  const fdsBefore = pids.map(fdsOf);
  const rssBefore = await sampleRss(pids, m.samples, 500);
  // Each pod's own descriptors (listening socket, Redis, epoll, stdio...) count against its limit too.
  const maxPerPod = 20000 - Math.max(...fdsBefore) - m.fdMargin;
  const levels = m.levels.map((l) => (l === 0 ? maxPerPod : Math.min(l, maxPerPod)));
  const totalMax = Math.max(...levels) * podsN;
  const workers = Math.max(m.workers, Math.ceil(totalMax / 15000));
  const w = await Workers.start(workers);
  const out: MemoryLevel[] = [];
  try {
    let perPod = 0;
    for (const level of levels) {
      const add = level - perPod;
      if (add <= 0) continue;
      const spec: Omit<GroupSpec, 'from' | 'to'> = {
        group: `mem${level}`,
        system: sys.kind,
        urls: sys.pods.map((p) => p.url),
        total: add * podsN,
        rooms: 0,
        roomPrefix: '',
        publishers: false,
        reconnect: false,
        track: false,
        ...(sys.tokenSecret ? { tokenSecret: sys.tokenSecret } : {}),
        localAddresses: m.localAddresses,
        textPad: cfg.textPad,
      };
      const opened = await openGroup(w, spec, cfg.connectConcurrency, log, `memory ${level}/pod`);
      perPod = level;
      log(`memory: ${level} idle connections per pod open (${opened.failed} failed); settling...`, true);
      const c0 = cpuSample(sys, w);
      await sleep(m.settleMs);
      const rssAfter = await sampleRss(pids, m.samples, 500);
      const cpu = cores(c0, cpuSample(sys, w));
      const pods: MemoryPod[] = sys.pods.map((p, i) => {
        const before = rssBefore[i] ?? 0;
        const after = rssAfter[i] ?? 0;
        return {
          id: p.id,
          rssBefore: before,
          rssAfter: after,
          fdsBefore: fdsBefore[i] ?? 0,
          fdsAfter: fdsOf(p.pid),
          bytesPerConn: Math.round((after - before) / level),
        };
      });
      const mean = Math.round(pods.reduce((n, p) => n + p.bytesPerConn, 0) / pods.length);
      out.push({
        perPod: level,
        opened: opened.opened,
        failed: opened.failed,
        pods,
        meanBytesPerConn: mean,
        cpu,
      });
      log(
        `memory: ${level} per pod: ${(mean / 1024).toFixed(2)} KiB per idle connection ` +
          `(${pods.map((p) => `${p.id} ${(p.bytesPerConn / 1024).toFixed(2)}`).join(', ')}; ` +
          `fds ${pods.map((p) => p.fdsAfter).join('/')}; failed ${opened.failed})`,
      );
    }
  } finally {
    await w.all({ t: 'closeAll' }).catch(() => {});
    await w.stop();
  }
  return { maxPerPod, levels: out };
}
