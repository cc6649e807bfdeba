import type { RedisCommands } from '../broker/redis-link.js';
import type { Conn } from './connection.js';

/**
 * Rebalancing after a scale-out. Sockets never move by themselves: after new pods start, the
 * old ones keep their clients and the new ones stay empty. Each pod publishes its open-socket
 * count to Redis; a pod above the fleet's mean by more than the margin closes a few of its
 * sockets at a time with 1012 and a reconnect hint (the drain's zero-loss path: in-flight
 * sends are acked first, the client resumes every room from its last id), and the balancer
 * routes them to the emptier pods.
 */

/** The counts that are non-negative numbers (a foreign or corrupt entry is left out). */
function usableCounts(fleet: readonly number[]): number[] {
  return fleet.filter((n) => Number.isFinite(n) && n >= 0);
}

/** Mean open sockets per pod over the usable counts; 0 for none. */
export function fleetMean(fleet: readonly number[]): number {
  const counts = usableCounts(fleet);
  return counts.length === 0 ? 0 : counts.reduce((s, n) => s + n, 0) / counts.length;
}

/**
 * Sockets this pod should shed now: its count above ceil(mean), once past the margin. A fleet
 * of one (or a read with no usable count besides this pod's) has nothing to balance: 0. A count
 * that is not a non-negative number (a foreign or corrupt entry) is left out of the mean, never
 * allowed to make it NaN (a NaN excess would have picked every socket).
 */
export function excessSockets(own: number, fleet: readonly number[], marginPct: number): number {
  const counts = usableCounts(fleet);
  if (counts.length < 2 || !Number.isFinite(own) || own <= 0) return 0;
  const mean = fleetMean(counts);
  if (own <= mean * (1 + Math.max(0, marginPct) / 100)) return 0;
  // Down to ceil(mean), not to the margin: the fleet ends balanced, and a pod at ceil(mean)
  // never sheds again, so two pods cannot pass sockets back and forth.
  return Math.max(0, own - Math.ceil(mean));
}

/**
 * Which sockets to shed: the oldest that are not closing or draining (a send in flight is
 * acked before the close: drainSockets waits for it). A socket that was just moved is the
 * newest on its new pod, so it is not moved again soon.
 */
export function pickSockets(conns: Iterable<Conn>, count: number): Conn[] {
  const out: Conn[] = [];
  if (!(count > 0)) return out; // also NaN
  for (const c of conns) {
    if (c.closing || c.draining) continue;
    out.push(c);
    if (out.length >= count) break;
  }
  return out;
}

/**
 * The fleet's connection counts in Redis, bounded: a hash of node -> count and a zset of
 * node -> expiry (ms, Redis clock). Every publish removes expired nodes (at most 100 per
 * call, so no call scans unbounded data) and renews both keys' TTL, so a fleet that stops
 * leaves nothing behind; a pod that stops removes its own entry. Both keys share a hash tag.
 */
const PUBLISH = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
for _, n in ipairs(stale) do
  redis.call('ZREM', KEYS[1], n)
  redis.call('HDEL', KEYS[2], n)
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('HGETALL', KEYS[2])
`;

const WITHDRAW = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`;

export class FleetCounts {
  private readonly keys: [string, string];

  constructor(
    private readonly redis: RedisCommands,
    prefix: string,
    private readonly nodeId: string,
    /** How long an entry lives without a new publish. */
    private readonly ttlMs: number,
  ) {
    this.keys = [`${prefix}{fleet}:expiry`, `${prefix}{fleet}:conns`];
  }

  /** Publishes this pod's count; resolves with every live pod's count (this one included). */
  async publish(count: number): Promise<Map<string, number>> {
    const flat = (await this.redis.eval(
      PUBLISH,
      2,
      ...this.keys,
      this.nodeId,
      count,
      this.ttlMs,
    )) as string[];
    const out = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i] as string, Number(flat[i + 1]));
    return out;
  }

  /** Leaves the fleet (on drain): the others stop counting this pod at once. */
  async withdraw(): Promise<void> {
    await this.redis.eval(WITHDRAW, 2, ...this.keys, this.nodeId);
  }
}
