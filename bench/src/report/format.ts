import { SYSTEM_KINDS } from '../load/protocol.js';
import type { BenchResult, SystemResult } from '../run.js';

export const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || Number.isNaN(n)
    ? 'n/a'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`;

export const kib = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 1024);

/** The measured systems in the fixed order of the tables (this server first). */
export function ordered(r: BenchResult): SystemResult[] {
  return SYSTEM_KINDS.map((k) => r.systems[k]).filter((s): s is SystemResult => s !== undefined);
}
