import type { PresenceEntry } from '@chat/protocol';
import type { NodeLiveness, Presence, PresenceDelta } from './types.js';

/** Presence entries of one process, announced through `announce` (the memory broker's delivery). */
export class MemoryPresence implements Presence {
  private readonly rooms = new Map<string, Map<string, PresenceEntry>>();

  constructor(private readonly announce: (room: string, delta: PresenceDelta) => void) {}

  async add(room: string, entry: PresenceEntry): Promise<void> {
    let members = this.rooms.get(room);
    if (!members) {
      members = new Map();
      this.rooms.set(room, members);
    }
    members.set(entry.key, entry);
    this.announce(room, { join: entry });
  }

  async remove(room: string, key: string): Promise<void> {
    const members = this.rooms.get(room);
    if (!members?.delete(key)) return;
    if (members.size === 0) this.rooms.delete(room);
    this.announce(room, { leave: key });
  }

  async list(room: string): Promise<PresenceEntry[]> {
    return [...(this.rooms.get(room)?.values() ?? [])];
  }

  /** Removes every entry whose key belongs to `node` (keys are `<node>/<connection>`). */
  async removeNode(node: string): Promise<number> {
    const mine = `${node}/`;
    let removed = 0;
    for (const [room, members] of [...this.rooms])
      for (const key of [...members.keys()])
        if (key.startsWith(mine)) {
          await this.remove(room, key);
          removed++;
        }
    return removed;
  }
}

/**
 * Node heartbeats in one process. Several apps may share one memory broker (tests do), so it
 * keeps the same contract as the Redis registry: a node that stopped beating is reaped.
 */
export class MemoryNodes implements NodeLiveness {
  private readonly beats = new Map<string, number>();

  constructor(
    private readonly self: string,
    private readonly presence: MemoryPresence,
  ) {}

  async beat(): Promise<void> {
    this.beats.set(this.self, Date.now());
  }

  async stale(ms: number): Promise<string[]> {
    const before = Date.now() - ms;
    return [...this.beats].filter(([node, at]) => node !== this.self && at < before).map(([node]) => node);
  }

  async reap(node: string): Promise<number> {
    this.beats.delete(node);
    return this.presence.removeNode(node);
  }
}
