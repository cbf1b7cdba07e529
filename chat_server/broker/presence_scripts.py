"""The presence checks as Lua scripts, each run atomically in Redis; ARGV[1] is the key prefix."""

from __future__ import annotations

_LUA_COMMON = """
local prefix = ARGV[1]
local nodes_key = prefix .. ':nodes'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function live_nodes()
  return redis.call('ZRANGEBYSCORE', nodes_key, '(' .. now, '+inf')
end
local function held_by(nodes, uid, skip)
  for _, node in ipairs(nodes) do
    if node ~= skip and redis.call('HEXISTS', prefix .. ':node:' .. node, uid) == 1 then
      return true
    end
  end
  return false
end
"""

# ARGV: prefix, node, ttl_ms, uid, nick -> 1 when no other live node has the user
ONLINE = (
    _LUA_COMMON
    + """
local node, ttl = ARGV[2], tonumber(ARGV[3])
redis.call('HSET', prefix .. ':node:' .. node, ARGV[4], ARGV[5])
redis.call('PEXPIRE', prefix .. ':node:' .. node, ttl * 3)
redis.call('ZADD', nodes_key, now + ttl, node)
redis.call('PEXPIRE', nodes_key, 86400000)  -- only so an abandoned prefix goes away
if held_by(live_nodes(), ARGV[4], node) then return 0 end
return 1
"""
)

# ARGV: prefix, node, uid -> 1 when no other live node has the user
OFFLINE = (
    _LUA_COMMON
    + """
redis.call('HDEL', prefix .. ':node:' .. ARGV[2], ARGV[3])
if held_by(live_nodes(), ARGV[3], ARGV[2]) then return 0 end
return 1
"""
)

# ARGV: prefix, uid... -> the uids some live node has
ONLINE_SET = (
    _LUA_COMMON
    + """
local nodes = live_nodes()
local found = {}
for i = 2, #ARGV do
  if held_by(nodes, ARGV[i], nil) then table.insert(found, ARGV[i]) end
end
return found
"""
)

# ARGV: prefix, node, ttl_ms, uid1, nick1, ... -> {1 if the node was missing, gone uid/nick...}
HEARTBEAT = (
    _LUA_COMMON
    + """
local node, ttl = ARGV[2], tonumber(ARGV[3])
local key = prefix .. ':node:' .. node
redis.call('DEL', key)
for i = 4, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
if #ARGV >= 4 then redis.call('PEXPIRE', key, ttl * 3) end
local added = redis.call('ZADD', nodes_key, now + ttl, node)
redis.call('PEXPIRE', nodes_key, 86400000)  -- only so an abandoned prefix goes away
local gone, seen = {}, {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', nodes_key, '-inf', now)) do
  redis.call('ZREM', nodes_key, dead)
  local dead_key = prefix .. ':node:' .. dead
  local users = redis.call('HGETALL', dead_key)
  redis.call('DEL', dead_key)
  local nodes = live_nodes()
  for i = 1, #users, 2 do
    if not seen[users[i]] and not held_by(nodes, users[i], nil) then
      seen[users[i]] = true
      table.insert(gone, users[i])
      table.insert(gone, users[i + 1])
    end
  end
end
return {added, gone}
"""
)

# ARGV: prefix, node: a node leaving cleanly
LEAVE = (
    _LUA_COMMON
    + """
redis.call('ZREM', nodes_key, ARGV[2])
redis.call('DEL', prefix .. ':node:' .. ARGV[2])
return 1
"""
)
