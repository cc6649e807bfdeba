import type { Result } from 'ioredis';

/**
 * Lua run atomically inside Redis. Appending and publishing in one script is what makes
 * live delivery arrive in id order on every pod: two pods appending at once can never
 * publish in the opposite order of their ids, so "resume after the last id I saw" is exact.
 * Keys of one room share a hash tag; presence cleanup touches several rooms, so the broker
 * targets a single Redis (or a Sentinel-managed primary), not Redis Cluster.
 */

/**
 * KEYS: stream, idempotency key. ARGV: body, maxlen, ttl seconds, channel, node id.
 * Publishes `m<US>id<US>prev<US>node<US>body`, where `prev` is the entry just before this one in
 * the stream ('0-0' for the first): the chain that lets a pod prove it missed nothing.
 */
export const APPEND = `
local stored = redis.call('GET', KEYS[2])
if stored then return {stored, 1} end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if last[1] then prev = last[1][1] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'b', ARGV[1])
redis.call('SET', KEYS[2], id, 'EX', ARGV[3])
redis.call('PUBLISH', ARGV[4], 'm\\31' .. id .. '\\31' .. prev .. '\\31' .. ARGV[5] .. '\\31' .. ARGV[1])
return {id, 0}
`;

/** KEYS: presence hash, node's room set. ARGV: entry key, entry json, room, channel, node, delta json. */
export const PRESENCE_ADD = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], 'p\\31' .. ARGV[5] .. '\\31' .. ARGV[6])
return 1
`;

/** KEYS: presence hash. ARGV: entry key, channel, node, delta json. */
export const PRESENCE_REMOVE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', ARGV[2], 'p\\31' .. ARGV[3] .. '\\31' .. ARGV[4])
  return 1
end
return 0
`;

/**
 * Removes every presence entry of a node that stopped (crashed pods never say goodbye).
 * KEYS: nodes zset, the node's room set. ARGV: node id, key prefix, channel prefix, reaper id.
 */
export const PRESENCE_REAP = `
local rooms = redis.call('SMEMBERS', KEYS[2])
local mine = ARGV[1] .. '/'
local removed = 0
for _, room in ipairs(rooms) do
  local hkey = ARGV[2] .. '{' .. room .. '}:p'
  for _, f in ipairs(redis.call('HKEYS', hkey)) do
    if string.sub(f, 1, #mine) == mine then
      redis.call('HDEL', hkey, f)
      redis.call('PUBLISH', ARGV[3] .. room, 'p\\31' .. ARGV[4] .. '\\31' .. cjson.encode({leave = f}))
      removed = removed + 1
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return removed
`;

/** Typed methods for the scripts above, registered with `defineCommand` by the broker. */
declare module 'ioredis' {
  interface RedisCommander<Context> {
    chatAppend(
      stream: string,
      idemKey: string,
      body: string,
      maxLen: number,
      ttlS: number,
      channel: string,
      node: string,
    ): Result<[string, number], Context>;
    chatPresenceAdd(
      hash: string,
      nodeRooms: string,
      key: string,
      entry: string,
      room: string,
      channel: string,
      node: string,
      delta: string,
    ): Result<number, Context>;
    chatPresenceRemove(
      hash: string,
      key: string,
      channel: string,
      node: string,
      delta: string,
    ): Result<number, Context>;
    chatPresenceReap(
      nodes: string,
      nodeRooms: string,
      node: string,
      keyPrefix: string,
      channelPrefix: string,
      reaper: string,
    ): Result<number, Context>;
  }
}
