import { type ChatMessage, compareIds, type Member, maxId, type PresenceEntry } from '@chat/protocol';

export interface RoomStoreOptions {
  /** Messages kept per room (the oldest are dropped first); 0 keeps none. */
  history: number;
  /** How many recent ids are remembered to drop duplicates (independent of `history`). */
  dedupeWindow: number;
}

/**
 * One room's view: an id-ordered, bounded message list, the last id seen (for resume), whether
 * it is joined on this connection, the duplicate filter, and the presence entries. It does not
 * know about sockets. Only Rooms creates and changes these (through the methods below).
 */
export class RoomStore {
  private revision = 0;
  private last: string | undefined;
  private joinedNow = false;
  private list: ChatMessage[] = [];
  private readonly seen = new Set<string>();
  /** Every id at or below this one was seen and has since left the duplicate window. */
  private floor: string | undefined;
  private readonly presenceByKey = new Map<string, PresenceEntry>();

  constructor(
    readonly name: string,
    private readonly options: RoomStoreOptions,
  ) {}

  /** Raised on every visible change, so snapshots can be cached. */
  get version(): number {
    return this.revision;
  }

  /** The greatest id received from the server's ordered stream (msg, joined, resync). */
  get lastId(): string | undefined {
    return this.last;
  }

  /** Joined on the current connection (the server answered `joined` or `resync`). */
  get joined(): boolean {
    return this.joinedNow;
  }

  get messages(): readonly ChatMessage[] {
    return this.list;
  }

  /** The server answered `joined` or `resync` on this connection, or (false) no longer counts. */
  setJoined(joined: boolean): void {
    if (this.joinedNow === joined) return;
    this.joinedNow = joined;
    this.revision++;
  }

  /** Records that the server's ordered stream has reached `id` (resume asks for what follows). */
  observe(id: string): void {
    this.last = maxId(this.last, id);
  }

  private isDuplicate(id: string): boolean {
    if (this.seen.has(id)) return true;
    return this.floor !== undefined && compareIds(id, this.floor) <= 0;
  }

  /** Adds a message unless it was already seen. Returns true when it is new. */
  accept(message: ChatMessage): boolean {
    if (this.isDuplicate(message.id)) return false;
    this.remember(message.id);
    if (this.options.history > 0) {
      this.insert(message);
      this.revision++;
    }
    return true;
  }

  /** Resync: forget everything about the room's messages; the caller then accepts the new page. */
  reset(): void {
    this.list = [];
    this.seen.clear();
    this.floor = undefined;
    this.last = undefined;
    this.revision++;
  }

  setPresence(entries: readonly PresenceEntry[]): void {
    this.presenceByKey.clear();
    for (const e of entries) this.presenceByKey.set(e.key, e);
    this.revision++;
  }

  applyPresence(join: readonly PresenceEntry[], leave: readonly string[]): void {
    for (const key of leave) this.presenceByKey.delete(key);
    for (const e of join) this.presenceByKey.set(e.key, e);
    this.revision++;
  }

  presence(): PresenceEntry[] {
    return [...this.presenceByKey.values()];
  }

  /** One entry per user (a user with two tabs has two connections), sorted by name. */
  users(): Member[] {
    const byId = new Map<string, Member>();
    for (const e of this.presenceByKey.values())
      if (!byId.has(e.id)) byId.set(e.id, { id: e.id, name: e.name });
    return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  private remember(id: string): void {
    this.seen.add(id);
    while (this.seen.size > Math.max(1, this.options.dedupeWindow)) {
      const oldest = this.seen.values().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
      this.floor = maxId(this.floor, oldest);
    }
  }

  private insert(message: ChatMessage): void {
    // Copy on write: snapshots handed to a UI must never change under it.
    const next = this.list.slice();
    let i = next.length;
    while (i > 0) {
      const prev = next[i - 1];
      if (prev && compareIds(prev.id, message.id) < 0) break;
      i--;
    }
    next.splice(i, 0, message);
    if (next.length > this.options.history) next.splice(0, next.length - this.options.history);
    this.list = next;
  }
}
