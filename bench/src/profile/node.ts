/** This server's pods: V8 sampling profiles (.cpuprofile, written by systems/prof-entry.ts) summed. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProfileEntry } from './entry.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function shortUrl(url: string): string {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(ROOT) ? relative(ROOT, path) : path;
}

/** Self time per function (name + file + line), summed over every profile in `dir`. */
export function summarize(dir: string): { totalMs: number; idleMs: number; top: ProfileEntry[] } {
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let totalUs = 0;
  let idleUs = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0;
      const cf = byId.get(id);
      if (!cf) return;
      totalUs += dt;
      if (cf.functionName === '(idle)') {
        idleUs += dt;
        return;
      }
      const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
      const key = `${cf.functionName}@${where}`;
      const e = self.get(key) ?? { fn: cf.functionName || '(anonymous)', where, us: 0 };
      e.us += dt;
      self.set(key, e);
    });
  }
  const busy = totalUs - idleUs;
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, 25)
    .map((e) => ({
      fn: e.fn,
      where: e.where,
      selfMs: Math.round(e.us / 1000),
      percent: Math.round((e.us / Math.max(1, busy)) * 1000) / 10,
    }));
  return { totalMs: Math.round(totalUs / 1000), idleMs: Math.round(idleUs / 1000), top };
}
