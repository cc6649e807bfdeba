import type { Result } from 'ioredis';

/**
 * Lua run atomically inside Redis. Appending and publishing in one script is what makes
 * live delivery arrive in id order on every pod: two pods appending at once can never
 * publish in the opposite order of their ids, so "resume after the last id I saw" is exact.
 * Every script touches the keys of one room only (they share the hash tag `{room}`, see
 * redis-keys.ts), so each runs on the room's shard of a Redis Cluster as well as on one Redis.
 * The publish command is an argument: PUBLISH on one Redis, SPUBLISH (sharded pub/sub, the
 * room's channel lives on the room's shard) on a cluster.
 */

/**
 * KEYS: stream, the room's idempotency hash (clientMsgId -> id). ARGV: body, maxlen, room ttl
 * seconds, channel, node id, clientMsgId, idempotency window ms, publish command.
 * Publishes `m<US>id<US>prev<US>node<US>body`, where `prev` is the entry just before this one in
 * the stream ('0-0' for the first): the chain that lets a pod prove it missed nothing.
 *
 * Bounded by design: the stream is trimmed like `MAXLEN ~` (whole internal nodes, so no
 * half-empty nodes stay allocated), and the clientMsgId of every trimmed entry (its `k` field)
 * leaves the hash with it, so a room remembers at most its history's ids; both keys expire
 * after the room ttl without a message. A remembered id older than the idempotency window
 * (its stream id is its time) counts as new.
 */
export const APPEND = `
local stored = redis.call('HGET', KEYS[2], ARGV[6])
if stored then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local ms = tonumber(string.match(stored, '^(%d+)'))
  if ms and now - ms < tonumber(ARGV[7]) then return {stored, 1} end
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if last[1] then prev = last[1][1] end
local id = redis.call('XADD', KEYS[1], '*', 'b', ARGV[1], 'k', ARGV[6])
redis.call('HSET', KEYS[2], ARGV[6], id)
local over = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[2])
if over >= 100 then
  -- Enough for a whole node: read the candidates, trim, and forget the ids that went.
  if over > 1000 then over = 1000 end
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over)
  redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[2])
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1]
  for _, e in ipairs(old) do
    if e[1] == first then break end
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'k' and redis.call('HGET', KEYS[2], f[i + 1]) == e[1] then
        redis.call('HDEL', KEYS[2], f[i + 1])
      end
    end
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call(ARGV[8], ARGV[4], 'm\\31' .. id .. '\\31' .. prev .. '\\31' .. ARGV[5] .. '\\31' .. ARGV[1])
return {id, 0}
`;

/**
 * KEYS: the room's presence hash. ARGV: entry key, entry json, channel, node, delta json,
 * publish command.
 */
export const PRESENCE_ADD = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call(ARGV[6], ARGV[3], 'p\\31' .. ARGV[4] .. '\\31' .. ARGV[5])
return 1
`;

/** KEYS: the room's presence hash. ARGV: entry key, channel, node, delta json, publish command. */
export const PRESENCE_REMOVE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call(ARGV[5], ARGV[2], 'p\\31' .. ARGV[3] .. '\\31' .. ARGV[4])
  return 1
end
return 0
`;

/**
 * One step of removing the presence entries of a node that stopped (crashed pods never say
 * goodbye): its entries in one room, each leave announced. The caller walks the node's room
 * set, one room per script, so Redis is never blocked by one script over every room, and on a
 * cluster each step runs on its room's shard.
 * KEYS: the room's presence hash. ARGV: the node's key prefix (`<node>/`), channel, reaper id,
 * publish command. Returns the entries removed.
 */
export const PRESENCE_REAP_ROOM = `
local removed = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, #ARGV[1]) == ARGV[1] then
    redis.call('HDEL', KEYS[1], f)
    redis.call(ARGV[4], ARGV[2], 'p\\31' .. ARGV[3] .. '\\31' .. cjson.encode({leave = f}))
    removed = removed + 1
  end
end
return removed
`;

export type PublishCommand = 'PUBLISH' | 'SPUBLISH';

/** Typed methods for the scripts above, registered with `defineCommand` by the broker. */
declare module 'ioredis' {
  interface RedisCommander<Context> {
    chatAppend(
      stream: string,
      idemHash: string,
      body: string,
      maxLen: number,
      roomTtlS: number,
      channel: string,
      node: string,
      idemKey: string,
      idemWindowMs: number,
      publish: PublishCommand,
    ): Result<[string, number], Context>;
    chatPresenceAdd(
      hash: string,
      key: string,
      entry: string,
      channel: string,
      node: string,
      delta: string,
      publish: PublishCommand,
    ): Result<number, Context>;
    chatPresenceRemove(
      hash: string,
      key: string,
      channel: string,
      node: string,
      delta: string,
      publish: PublishCommand,
    ): Result<number, Context>;
    chatPresenceReapRoom(
      hash: string,
      nodePrefix: string,
      channel: string,
      reaper: string,
      publish: PublishCommand,
    ): Result<number, Context>;
  }
}
