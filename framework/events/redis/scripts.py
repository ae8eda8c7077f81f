"""The Lua scripts the Redis backend runs, and the parser of the packed reply one of them gives.

redis-py spends far more packing a command and parsing its reply than Redis spends running
it, so the two hot paths each send one script call: publishing a burst (``XADD_LUA``) and
reading a backlog (``READ_LUA``, whose reply is a string per stream, not elements per entry).
Reading a backlog also checks the replay records in the same call. A script cannot block, so
a blocking read is an XREADGROUP with ``DELIVERED_LUA`` right behind it in one pipeline: the
records are checked as soon as the read returns, without a round trip of their own.

On a Redis Cluster a script touches one hash slot: every KEYS of a call share a hash tag (the
topic's), and the replay records READ_LUA and DELIVERED_LUA write, named from ARGV, carry that
tag too (``Keys.seen``), so they are in the slot of the streams read.

The partition leases (``leases``) are scripts too, because each step must read and write
atomically: a heartbeat (register, prune, renew, read every owner, in one call), acquiring
and releasing leases, a member leaving, and the XACK fenced by a lease's token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

# KEYS: the topic registry if topics are new to it, then the stream of each entry. ARGV:
# MAXLEN, the number of topics new to the registry, those topics, then the value of each entry
# (its single field 'e'). On a cluster the registry lives in a slot of its own: the caller
# registers new topics with an SADD first and sends none here.
XADD_LUA = """
local new = tonumber(ARGV[2])
local first = 1
if new > 0 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 3, 2 + new))
  first = 2
end
for i = first, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[3 + new + i - first])
end
return #KEYS - first + 1
"""
# A non-blocking XREADGROUP whose reply redis-py parses cheaply: per stream, its name, one
# string of entries, each "<id> <length> <value of 'e'>" (length -1 and no value for an entry
# that is not a single field 'e': the reader fetches those with XRANGE), and the replays among
# them (see RECORD_LUA), "<id> <owner> " each, usually none. Parsing a reply costs redis-py
# several elements per entry; this is three per stream. KEYS: the streams. ARGV: group,
# consumer, COUNT, the prefix of the record keys, their lifetime in seconds.
READ_LUA = """
local args = {'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS'}
for i = 1, #KEYS do args[#args + 1] = KEYS[i] end
for i = 1, #KEYS do args[#args + 1] = '>' end
local reply = redis.call('XREADGROUP', unpack(args))
local out = {}
if not reply then return out end
for _, stream in ipairs(reply) do
  local parts, replays = {}, {}
  for _, entry in ipairs(stream[2]) do
    local fields = entry[2]
    if fields and #fields == 2 and fields[1] == 'e' then
      local value = fields[2]
      parts[#parts + 1] = entry[1] .. ' ' .. #value .. ' ' .. value
      if #value > 64 and string.sub(value, 1, 1) ~= '{' then
        local record = ARGV[4] .. string.sub(value, 1, 32)
        local owner = redis.call('GET', record)
        if not owner then
          redis.call('SET', record, entry[1], 'EX', ARGV[5])
        elseif owner ~= entry[1] then
          replays[#replays + 1] = entry[1] .. ' ' .. owner .. ' '
        end
      end
    else
      parts[#parts + 1] = entry[1] .. ' -1 '
    end
  end
  out[#out + 1] = stream[1]
  out[#out + 1] = table.concat(parts)
  out[#out + 1] = table.concat(replays)
end
return out
"""
# The replay records: ``{prefix}:@seen:<first 32 hex digits of a signature>`` names the stream
# entry that carries that signed value, for the replay window (and a margin). The first entry
# read with a signature is recorded; a later one with the same signature is a copy (a replay),
# while the recorded entry itself may be read again (claimed after its consumer died).
# KEYS: the record of each entry. ARGV: the records' lifetime in seconds, then each entry id.
# Returns the position (from 1) and recorded owner of each copy, usually nothing.
RECORD_LUA = """
local out = {}
for i = 1, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  if not owner then
    redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[1])
  elseif owner ~= ARGV[i + 1] then
    out[#out + 1] = i
    out[#out + 1] = owner
  end
end
return out
"""
# Checks the replay records of the entries pending for this consumer, as RECORD_LUA does: sent
# in one pipeline right behind a blocking XREADGROUP, it sees what that read delivered (the
# entries still being handled too, which are recorded already). Returns, per stream, its name,
# the last entry id it looked at ('' for none: the caller checks the read is covered) and the
# replays among the entries, "<id> <owner> " each. KEYS: the streams. ARGV: group, consumer,
# how many pending entries to look at, the prefix of the record keys, their lifetime.
DELIVERED_LUA = """
local out = {}
for _, stream in ipairs(KEYS) do
  local last, replays = '', {}
  local pending = redis.call('XPENDING', stream, ARGV[1], '-', '+', ARGV[3], ARGV[2])
  for _, held in ipairs(pending) do
    local id = held[1]
    last = id
    local entry = redis.call('XRANGE', stream, id, id)[1]
    local fields, value = entry and entry[2] or {}, nil
    for f = 1, #fields - 1, 2 do  -- the last field 'e', as redis-py reads an entry
      if fields[f] == 'e' then value = fields[f + 1] end
    end
    if value and #value > 64 and string.sub(value, 1, 1) ~= '{' then
      local record = ARGV[4] .. string.sub(value, 1, 32)
      local owner = redis.call('GET', record)
      if not owner then
        redis.call('SET', record, id, 'EX', ARGV[5])
      elseif owner ~= id then
        replays[#replays + 1] = id .. ' ' .. owner .. ' '
      end
    end
  end
  out[#out + 1] = stream
  out[#out + 1] = last
  out[#out + 1] = table.concat(replays)
end
return out
"""


# Partition leases (see ``leases``). The time is Redis's own (TIME), so the members' clocks
# never have to agree. A lease is a hash {owner, token} with a PX expiry; its token comes from
# HINCRBY on the group's tokens hash, which never expires, so a later owner always holds a
# larger token than every earlier one.

# A change the other members should act on now rather than at their next heartbeat goes to
# the group's notice stream (a member joined or expired, leases were released); waiting
# members block on it. The stream is short and expires when the group goes quiet.
NOTICE_LUA = """
local function notice(key, member, what, lease)
  redis.call('XADD', key, 'MAXLEN', '~', 64, '*', 'member', member, 'what', what)
  redis.call('PEXPIRE', key, lease * 2)
end
"""
# One heartbeat of a member, in one call: register it as live until now + lease, drop members
# whose time ran out, renew its leases (only those still its own with its token) and report
# what every member needs to plan. A member whose partition count or lease differs from the
# other live members' is refused (error 'SETTINGS <partitions> <lease ms>' of the others):
# its plans would never agree with theirs. KEYS: the members set, the notice stream, the
# group's settings hash, then the lease of each partition, 0 first. ARGV: member, lease ms,
# then its token per partition ('0': not held). Returns the live members (sorted by name), each partition's owner ('' for none), the
# partitions whose lease it lost, the last notice's id (this view includes every change
# noticed up to it) and the ms until the first member's time runs out (a silent member's
# leases run out with it: the others wake then to take them over).
BEAT_LUA = NOTICE_LUA + """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local lease = tonumber(ARGV[2])
local expired = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local others = redis.call('ZCARD', KEYS[1]) - (redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0)
local settings = redis.call('HMGET', KEYS[3], 'partitions', 'lease_ms')
local partitions = tostring(#KEYS - 3)
if others > 0 and settings[1] and (settings[1] ~= partitions or settings[2] ~= ARGV[2]) then
  return redis.error_reply('SETTINGS ' .. settings[1] .. ' ' .. tostring(settings[2]))
end
redis.call('HSET', KEYS[3], 'partitions', partitions, 'lease_ms', ARGV[2])
redis.call('PEXPIRE', KEYS[3], lease * 2)
local joined = redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease * 2)
if joined > 0 then notice(KEYS[2], ARGV[1], 'joined', lease) end
if expired > 0 then notice(KEYS[2], ARGV[1], 'expired', lease) end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(members)
local owners, lost = {}, {}
for i = 4, #KEYS do
  local held = redis.call('HMGET', KEYS[i], 'owner', 'token')
  local mine = ARGV[i - 1]
  if mine ~= '0' then
    if held[1] == ARGV[1] and held[2] == mine then
      redis.call('PEXPIRE', KEYS[i], lease)
    else
      lost[#lost + 1] = i - 4
    end
  end
  owners[#owners + 1] = held[1] or ''
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {members, owners, lost, last and last[1] or '0-0', tonumber(first[2]) - now}
"""
# Takes the leases that are free, each with a new token. A lease under this member's own name
# counts as taken too: it may be an earlier run's, or another process's given the same name by
# mistake, and either may still be handling entries: it must expire first. KEYS: the tokens
# hash, then the leases wanted. ARGV: member, lease ms, then the partition of each lease.
# Returns the new token per lease, 0 where a lease is held.
ACQUIRE_LUA = """
local out = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    out[#out + 1] = 0
  else
    local token = redis.call('HINCRBY', KEYS[1], ARGV[i + 1], 1)
    redis.call('HSET', KEYS[i], 'owner', ARGV[1], 'token', token)
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    out[#out + 1] = token
  end
end
return out
"""
# Gives leases up: deletes each one still held by this member with its token, and tells the
# waiting members. KEYS: the notice stream, then the leases. ARGV: member, lease ms, then the
# token of each lease. Returns how many it deleted.
RELEASE_LUA = NOTICE_LUA + """
local released = 0
for i = 2, #KEYS do
  local held = redis.call('HMGET', KEYS[i], 'owner', 'token')
  if held[1] == ARGV[1] and held[2] == ARGV[i + 1] then
    redis.call('DEL', KEYS[i])
    released = released + 1
  end
end
if released > 0 then notice(KEYS[1], ARGV[1], 'released', tonumber(ARGV[2])) end
return released
"""
# A member leaves: it stops counting as live and tells the others. KEYS: the members set, the
# notice stream. ARGV: member, lease ms.
LEAVE_LUA = NOTICE_LUA + """
if redis.call('ZREM', KEYS[1], ARGV[1]) > 0 then notice(KEYS[2], ARGV[1], 'left', tonumber(ARGV[2])) end
return 0
"""
# XACK fenced by leases: acknowledges a partition's entries only while its lease still names
# this member with this token, so an owner that was paused past its lease (and replaced) cannot
# ack what its successor now handles. Several partitions go in one call (a round trip each cost
# more than the acks' own work). KEYS: per partition its lease and its stream. ARGV: member,
# group, then per partition its token, the number of its entry ids, and those ids. Returns per
# partition the XACK count, or -1 when its lease is no longer this member's.
FENCED_ACK_LUA = """
local out, at = {}, 3
for i = 1, #KEYS, 2 do
  local count = tonumber(ARGV[at + 1])
  local held = redis.call('HMGET', KEYS[i], 'owner', 'token')
  if held[1] ~= ARGV[1] or held[2] ~= ARGV[at] then
    out[#out + 1] = -1
  elseif count == 0 then
    out[#out + 1] = 0  -- no entries: only the check
  else
    out[#out + 1] = redis.call('XACK', KEYS[i + 1], ARGV[2], unpack(ARGV, at + 2, at + 1 + count))
  end
  at = at + 2 + count
end
return out
"""


class Scripts:
    """The scripts, registered with one client (EVALSHA, loaded again if Redis lost them)."""

    __slots__ = ("xadd", "read", "record", "beat", "acquire", "release", "leave", "fenced_ack")

    def __init__(self, client: Redis | RedisCluster) -> None:
        self.xadd: Any = client.register_script(XADD_LUA)
        self.read: Any = client.register_script(READ_LUA)
        self.record: Any = client.register_script(RECORD_LUA)
        self.beat: Any = client.register_script(BEAT_LUA)
        self.acquire: Any = client.register_script(ACQUIRE_LUA)
        self.release: Any = client.register_script(RELEASE_LUA)
        self.leave: Any = client.register_script(LEAVE_LUA)
        self.fenced_ack: Any = client.register_script(FENCED_ACK_LUA)
        # DELIVERED_LUA goes in a pipeline as EVAL: a registered script there costs redis-py a
        # SCRIPT EXISTS round trip per pipeline.


def unpack(packed: bytes) -> Iterator[tuple[str, bytes | None]]:
    """The ``(entry id, value of 'e')`` pairs of one stream's string in a ``READ_LUA`` reply.

    The value is None for an entry that is not a single field 'e' (a foreign producer's, say).
    """
    find, start, end = packed.find, 0, len(packed)
    while start < end:  # "<id> <length> <value>" after one another
        space = find(b" ", start)
        gap = find(b" ", space + 1)
        entry_id, length = packed[start:space].decode(), int(packed[space + 1 : gap])
        start = gap + 1 + max(length, 0)
        yield entry_id, packed[gap + 1 : start] if length >= 0 else None


def replays(packed: bytes) -> dict[str, str]:
    """The copies one stream's replay string in a ``READ_LUA`` reply names: entry id -> owner."""
    words = packed.decode().split()
    return dict(zip(words[::2], words[1::2], strict=True))
