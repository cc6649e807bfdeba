import type { PresenceEntry } from '@chat/protocol';
import { parsePresenceEntry } from './redis-codec.js';
import type { RedisKeys } from './redis-keys.js';
import type { RedisLink } from './redis-link.js';
import type { NodeLiveness, Presence, PresenceDelta } from './types.js';

/**
 * A pod's room set outlives a crash long enough for another pod (or the next one to start) to
 * reap it, and then expires even when no pod ever comes back; refreshed by the heartbeat.
 */
export const NODE_ROOMS_TTL_S = 86_400;
const REAP_LOCK_MS = 30_000;

/**
 * Presence in Redis: one hash per room (entry key -> json), changed by a script on the room's
 * keys that also publishes the change on the room's channel. Which rooms this node has entries
 * in is a set on the node's own slot, written before the first entry of a room and cleared
 * after the last (this node owns its entries, so it counts them itself), so that a reaper can
 * find them room by room without any command touching two rooms.
 */
export class RedisPresence implements Presence {
  /** This node's entry keys per room. */
  private readonly mine = new Map<string, Set<string>>();

  constructor(
    private readonly link: RedisLink,
    private readonly keys: RedisKeys,
    private readonly nodeId: string,
  ) {}

  async add(room: string, entry: PresenceEntry): Promise<void> {
    const { client } = this.link;
    // Registered first: a crash between the two leaves a room without entries to reap, never
    // an entry nobody would reap.
    await client.sadd(this.keys.nodeRooms(this.nodeId), room);
    const delta: PresenceDelta = { join: entry };
    await client.chatPresenceAdd(
      this.keys.presence(room),
      entry.key,
      JSON.stringify(entry),
      this.keys.channel(room),
      this.nodeId,
      JSON.stringify(delta),
      this.link.publish,
    );
    let keys = this.mine.get(room);
    if (!keys) {
      keys = new Set();
      this.mine.set(room, keys);
    }
    keys.add(entry.key);
  }

  async remove(room: string, key: string): Promise<void> {
    const delta: PresenceDelta = { leave: key };
    await this.link.client.chatPresenceRemove(
      this.keys.presence(room),
      key,
      this.keys.channel(room),
      this.nodeId,
      JSON.stringify(delta),
      this.link.publish,
    );
    const keys = this.mine.get(room);
    if (!keys?.delete(key) || keys.size > 0) return;
    this.mine.delete(room);
    await this.link.client.srem(this.keys.nodeRooms(this.nodeId), room);
  }

  async list(room: string): Promise<PresenceEntry[]> {
    const all = await this.link.client.hgetall(this.keys.presence(room));
    const out: PresenceEntry[] = [];
    for (const json of Object.values(all)) {
      const entry = parsePresenceEntry(json);
      if (entry) out.push(entry);
    }
    return out;
  }

  /** This node's entries are gone (reaped on shutdown): forget the local count. */
  forgetAll(): void {
    this.mine.clear();
  }
}

/**
 * Node liveness: a sorted set of heartbeats (one small key, one entry per pod) and, per node,
 * the set of rooms it has presence entries in. A reaper takes a lock on the dead node's slot
 * and removes its entries one room per script (on that room's shard), a page of rooms at a time.
 */
export class RedisNodes implements NodeLiveness {
  constructor(
    private readonly link: RedisLink,
    private readonly keys: RedisKeys,
    private readonly nodeId: string,
    private readonly reapBatch = 50,
  ) {}

  async beat(): Promise<void> {
    const { client } = this.link;
    await Promise.all([
      client.zadd(this.keys.nodes, Date.now(), this.nodeId),
      client.expire(this.keys.nodeRooms(this.nodeId), NODE_ROOMS_TTL_S),
    ]);
  }

  async stale(ms: number): Promise<string[]> {
    const dead = await this.link.client.zrangebyscore(this.keys.nodes, '-inf', Date.now() - ms);
    return dead.filter((node) => node !== this.nodeId);
  }

  async reap(node: string): Promise<number> {
    const { client } = this.link;
    const lock = this.keys.reapLock(node);
    if (node !== this.nodeId) {
      const got = await client.set(lock, this.nodeId, 'PX', REAP_LOCK_MS, 'NX');
      if (got !== 'OK') return 0;
    }
    const roomsKey = this.keys.nodeRooms(node);
    let removed = 0;
    let step = 0;
    const keepLock = async () => {
      if (++step % 100 === 0 && node !== this.nodeId) await client.pexpire(lock, REAP_LOCK_MS);
    };
    for (;;) {
      const rooms = await client.srandmember(roomsKey, this.reapBatch);
      if (rooms.length === 0) break;
      removed += await this.reapRooms(node, rooms);
      await client.srem(roomsKey, ...rooms);
      await keepLock();
    }
    // A pod of the previous version (one Redis only; there was no cluster mode) kept its rooms
    // in a hash `<prefix>node:<id>:roomcount` (room -> entries): one that crashed during a
    // rolling upgrade is reaped from it, one HSCAN page at a time.
    if (this.link.kind === 'single') {
      const legacy = this.keys.legacyNodeRooms(node);
      let cursor = '0';
      do {
        const [next, page] = await client.hscan(legacy, cursor, 'COUNT', this.reapBatch);
        cursor = next;
        const rooms = page.filter((_, i) => i % 2 === 0);
        if (rooms.length > 0) removed += await this.reapRooms(node, rooms);
        await keepLock();
      } while (cursor !== '0');
      await client.del(legacy);
    }
    await client.multi().del(roomsKey).del(lock).exec();
    await client.zrem(this.keys.nodes, node);
    return removed;
  }

  /** Removes `node`'s entries from each room's presence (one script per room, on its shard). */
  private async reapRooms(node: string, rooms: string[]): Promise<number> {
    const { client } = this.link;
    const counts = await Promise.all(
      rooms.map((room) =>
        client.chatPresenceReapRoom(
          this.keys.presence(room),
          `${node}/`,
          this.keys.channel(room),
          this.nodeId,
          this.link.publish,
        ),
      ),
    );
    return counts.reduce((a, n) => a + n, 0);
  }
}
