/**
 * The state of one load process (its client groups, the per-tag counters, what was acked) and
 * the sink its clients report to. One owner: the command handlers in worker.ts, publishing.ts
 * and checks.ts read and change it only through this module.
 */
import { Histogram } from '../hist.js';
import type { BenchClient, Sink } from './client-base.js';
import type { GroupSpec } from './protocol.js';
import { nowUs } from './protocol.js';

export interface TagStats {
  hist: Histogram;
  delivered: number;
  sent: number;
  acked: number;
  expected: number;
  errors: number;
}

export interface Group {
  spec: GroupSpec;
  clients: BenchClient[];
}

export interface Background {
  timer: NodeJS.Timeout;
  tag: number;
  sent: number;
}

export const groups = new Map<string, Group>();
const stats = new Map<number, TagStats>();
/** Per room, the background messages acknowledged (what the drain audit checks against). */
export const ackedByRoom = new Map<string, string[]>();
/** Errors the clients reported, by code ('resync': a resume the system could not serve). */
export const errorCodes = new Map<string, number>();
export const counters = { errors: 0 };
let background: Background | undefined;

export function currentBackground(): Background | undefined {
  return background;
}

export function setBackground(bg: Background | undefined): void {
  if (background && background !== bg) clearInterval(background.timer);
  background = bg;
}

export function tagStats(tag: number): TagStats {
  let s = stats.get(tag);
  if (!s) {
    s = { hist: new Histogram(), delivered: 0, sent: 0, acked: 0, expected: 0, errors: 0 };
    stats.set(tag, s);
  }
  return s;
}

/** Forgets every group and figure (after closeAll). */
export function reset(): void {
  setBackground(undefined);
  groups.clear();
  stats.clear();
  ackedByRoom.clear();
  errorCodes.clear();
}

function tagOf(text: string): number {
  const i = text.indexOf('|');
  return i > 0 ? Number(text.slice(0, i)) : 0;
}

export const sink: Sink = {
  delivered(_client, _room, _clientMsgId, text, live) {
    if (!live) return;
    const tag = tagOf(text);
    if (tag <= 0) return;
    const a = text.indexOf('|');
    const sentUs = Number(text.slice(a + 1, text.indexOf('|', a + 1)));
    const s = tagStats(tag);
    s.delivered++;
    s.hist.record(nowUs() - sentUs);
  },
  acked(_client, room, clientMsgId) {
    // clientMsgId = msg<tag>_<worker>_<seq>
    const tag = Number(clientMsgId.slice(3, clientMsgId.indexOf('_')));
    tagStats(tag).acked++;
    if (background && tag === background.tag) {
      const list = ackedByRoom.get(room) ?? [];
      ackedByRoom.set(room, list);
      list.push(clientMsgId);
    }
  },
  error(_client, code) {
    counters.errors++;
    errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
  },
  recovered() {},
};

export function membersOf(spec: GroupSpec, r: number): number {
  return Math.floor(spec.total / spec.rooms) + (r < spec.total % spec.rooms ? 1 : 0);
}

export function roomName(spec: GroupSpec, r: number): string {
  return `${spec.roomPrefix}${r}`;
}
