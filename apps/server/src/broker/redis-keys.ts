/**
 * Where a room and a node live in Redis. Every key and the channel of a room share the hash
 * tag `{room}`, so in Redis Cluster a room lives on one shard: its append script (idempotency
 * hash, stream, publish) stays atomic there and keeps id order. A node's own keys share
 * `{node:<id>}`. No command ever touches keys of two rooms, or of a room and a node.
 *
 *   <prefix>{<room>}:s            stream: the room's history (trimmed to MAXLEN, TTL)
 *   <prefix>{<room>}:i            hash clientMsgId -> id: the idempotency window (TTL)
 *   <prefix>{<room>}:p            hash presence key -> entry json
 *   <prefix>{<room>}:c            channel on a Redis Cluster (SPUBLISH: must hash to the room's slot)
 *   <prefix>room:<room>           channel on one Redis or Sentinel (PUBLISH: the name earlier
 *                                 versions use, so a rolling upgrade keeps live delivery
 *                                 between old and new pods)
 *   <prefix>{node:<id>}:rooms     set: rooms where the node has presence entries (TTL)
 *   <prefix>{node:<id>}:reap      lock: which node is reaping it (PX)
 *   <prefix>nodes                 sorted set node -> last heartbeat (ms); one entry per pod
 *   <prefix>node:<id>:roomcount   the previous version's per-pod room hash (one Redis only):
 *                                 read only to reap a pod of that version that crashed
 */
export class RedisKeys {
  private readonly channelHead: string;
  private readonly channelTail: string;

  /** `sharded`: channels carry the room's hash tag (Redis Cluster's sharded pub/sub). */
  constructor(
    readonly prefix: string,
    sharded: boolean,
  ) {
    this.channelHead = sharded ? `${prefix}{` : `${prefix}room:`;
    this.channelTail = sharded ? '}:c' : '';
  }

  stream(room: string): string {
    return `${this.prefix}{${room}}:s`;
  }
  idempotency(room: string): string {
    return `${this.prefix}{${room}}:i`;
  }
  presence(room: string): string {
    return `${this.prefix}{${room}}:p`;
  }
  channel(room: string): string {
    return `${this.channelHead}${room}${this.channelTail}`;
  }
  /** The room a channel belongs to, or undefined for a channel that is not a room's. */
  roomOf(channel: string): string | undefined {
    if (!channel.startsWith(this.channelHead) || !channel.endsWith(this.channelTail)) return undefined;
    const room = channel.slice(this.channelHead.length, channel.length - this.channelTail.length);
    return room === '' ? undefined : room;
  }
  nodeRooms(node: string): string {
    return `${this.prefix}{node:${node}}:rooms`;
  }
  legacyNodeRooms(node: string): string {
    return `${this.prefix}node:${node}:roomcount`;
  }
  reapLock(node: string): string {
    return `${this.prefix}{node:${node}}:reap`;
  }
  get nodes(): string {
    return `${this.prefix}nodes`;
  }
}
