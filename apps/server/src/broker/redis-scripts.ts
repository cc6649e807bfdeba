import type { Result } from 'ioredis';

/**
 * Lua run atomically inside Redis. Appending and publishing in one script is what makes
 * live delivery arrive in id order on every pod: two pods appending at once can never
 * publish in the opposite order of their ids, so "resume after the last id I saw" is exact.
 * Keys of one room share a hash tag; presence cleanup touches several rooms, so the broker
 * targets a single Redis (or a Sentinel-managed primary), not Redis Cluster.
 */

/**
 * KEYS: stream, the room's idempotency hash (clientMsgId -> id). ARGV: body, maxlen, room ttl
 * seconds, channel, node id, clientMsgId, idempotency window ms.
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
redis.call('PUBLISH', ARGV[4], 'm\\31' .. id .. '\\31' .. prev .. '\\31' .. ARGV[5] .. '\\31' .. ARGV[1])
return {id, 0}
`;

/**
 * KEYS: presence hash, the node's room hash (room -> number of this node's entries in it).
 * ARGV: entry key, entry json, room, channel, node, delta json, node hash ttl seconds.
 */
export const PRESENCE_ADD = `
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
redis.call('PUBLISH', ARGV[4], 'p\\31' .. ARGV[5] .. '\\31' .. ARGV[6])
return 1
`;

/**
 * KEYS: presence hash, the node's room hash. ARGV: entry key, channel, node, delta json, room.
 * The room leaves the node's hash with the node's last entry in it: the hash holds only rooms
 * the pod is in now.
 */
export const PRESENCE_REMOVE = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[5], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[5]) end
  redis.call('PUBLISH', ARGV[2], 'p\\31' .. ARGV[3] .. '\\31' .. ARGV[4])
  return 1
end
return 0
`;

/**
 * One small step of removing the presence entries of a node that stopped (crashed pods never
 * say goodbye): the rooms of one HSCAN page of its room hash. The caller loops over the cursor,
 * so Redis is never blocked by one script over every room.
 * KEYS: the node's room hash. ARGV: node id, key prefix, channel prefix, reaper id, cursor,
 * count. Returns {next cursor, entries removed}.
 */
export const PRESENCE_REAP_STEP = `
local page = redis.call('HSCAN', KEYS[1], ARGV[5], 'COUNT', ARGV[6])
local rooms = page[2]
local mine = ARGV[1] .. '/'
local removed = 0
for i = 1, #rooms, 2 do
  local room = rooms[i]
  local hkey = ARGV[2] .. '{' .. room .. '}:p'
  for _, f in ipairs(redis.call('HKEYS', hkey)) do
    if string.sub(f, 1, #mine) == mine then
      redis.call('HDEL', hkey, f)
      redis.call('PUBLISH', ARGV[3] .. room, 'p\\31' .. ARGV[4] .. '\\31' .. cjson.encode({leave = f}))
      removed = removed + 1
    end
  end
  redis.call('HDEL', KEYS[1], room)
end
return {page[1], removed}
`;

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
      nodeTtlS: number,
    ): Result<number, Context>;
    chatPresenceRemove(
      hash: string,
      nodeRooms: string,
      key: string,
      channel: string,
      node: string,
      delta: string,
      room: string,
    ): Result<number, Context>;
    chatPresenceReapStep(
      nodeRooms: string,
      node: string,
      keyPrefix: string,
      channelPrefix: string,
      reaper: string,
      cursor: string,
      count: number,
    ): Result<[string, number], Context>;
  }
}
