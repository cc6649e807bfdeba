import type { PresenceEntry } from '@chat/protocol';
import type { PresenceDelta } from '../broker/types.js';
import { frame } from './frames.js';

const PRESENCE_FLUSH_MS = 50;

/**
 * One room's presence as this pod knows it: the cached entries, and the changes coalesced into
 * one `presence` frame per PRESENCE_FLUSH_MS (join/leave storms stay cheap). Owned by its Room,
 * which says where frames go.
 */
export class RoomPresence {
  private readonly entries = new Map<string, PresenceEntry>();
  /** Set while the initial list is read: deltas that removed someone meanwhile. */
  private removedDuringInit: Set<string> | undefined = new Set();
  private timer: NodeJS.Timeout | undefined;
  private readonly pendingJoin = new Map<string, PresenceEntry>();
  private readonly pendingLeave = new Set<string>();

  constructor(
    private readonly room: string,
    /** Sends a built presence frame to the room's live sockets; returns frames sent. */
    private readonly broadcast: (data: Buffer) => number,
    private readonly framesOut: (n: number) => void,
  ) {}

  members(): PresenceEntry[] {
    return [...this.entries.values()];
  }

  /** The stored list read when the room opened, merged with deltas that arrived meanwhile. */
  initialize(list: readonly PresenceEntry[]): void {
    for (const p of list)
      if (!this.removedDuringInit?.has(p.key) && !this.entries.has(p.key)) this.entries.set(p.key, p);
    this.removedDuringInit = undefined;
  }

  apply(delta: PresenceDelta): void {
    if ('join' in delta) {
      this.entries.set(delta.join.key, delta.join);
      this.pendingLeave.delete(delta.join.key);
      this.pendingJoin.set(delta.join.key, delta.join);
    } else {
      this.entries.delete(delta.leave);
      this.removedDuringInit?.add(delta.leave);
      this.pendingJoin.delete(delta.leave);
      this.pendingLeave.add(delta.leave);
    }
    this.timer ??= setTimeout(() => this.framesOut(this.flush()), PRESENCE_FLUSH_MS);
  }

  /** Changes may have been missed (a subscriber reconnect): diff against the stored list. */
  reconcile(list: readonly PresenceEntry[]): void {
    const seen = new Set<string>();
    for (const p of list) {
      seen.add(p.key);
      if (!this.entries.has(p.key)) this.apply({ join: p });
    }
    for (const key of [...this.entries.keys()]) if (!seen.has(key)) this.apply({ leave: key });
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): number {
    this.timer = undefined;
    if (this.pendingJoin.size === 0 && this.pendingLeave.size === 0) return 0;
    const data = Buffer.from(
      frame({
        type: 'presence',
        room: this.room,
        join: [...this.pendingJoin.values()],
        leave: [...this.pendingLeave],
      }),
    );
    this.pendingJoin.clear();
    this.pendingLeave.clear();
    return this.broadcast(data);
  }
}

/** The presence frame body that turns `before` into `after`; undefined when they are the same. */
export function presenceChange(
  before: readonly PresenceEntry[],
  after: readonly PresenceEntry[],
): { join: PresenceEntry[]; leave: string[] } | undefined {
  const was = new Map(before.map((p) => [p.key, p]));
  const now = new Set(after.map((p) => p.key));
  const join = after.filter((p) => {
    const old = was.get(p.key);
    return !old || old.name !== p.name || old.id !== p.id;
  });
  const leave = before.filter((p) => !now.has(p.key)).map((p) => p.key);
  return join.length > 0 || leave.length > 0 ? { join, leave } : undefined;
}
