"""The Lua scripts the Redis backend runs, and the parser of the packed reply one of them gives.

redis-py spends far more packing a command and parsing its reply than Redis spends running
it, so the two hot paths each send one script call: publishing a burst (``XADD_LUA``) and
reading a backlog (``READ_LUA``, whose reply is a string per stream, not elements per entry).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from redis.asyncio import Redis

# KEYS: the topic registry, then the stream of each entry. ARGV: MAXLEN, the number of topics
# new to the registry, those topics, then the value of each entry (its single field 'e').
XADD_LUA = """
local new = tonumber(ARGV[2])
if new > 0 then redis.call('SADD', KEYS[1], unpack(ARGV, 3, 2 + new)) end
local first = 1 + new
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[first + i])
end
return #KEYS - 1
"""
# A non-blocking XREADGROUP whose reply redis-py parses cheaply: per stream, its name and one
# string of entries, each "<id> <length> <value of 'e'>" (length -1 and no value for an entry
# that is not a single field 'e': the reader fetches those with XRANGE). Parsing a reply costs
# redis-py several elements per entry; this is two per stream. KEYS: the streams. ARGV: group,
# consumer, COUNT.
READ_LUA = """
local args = {'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS'}
for i = 1, #KEYS do args[#args + 1] = KEYS[i] end
for i = 1, #KEYS do args[#args + 1] = '>' end
local reply = redis.call('XREADGROUP', unpack(args))
local out = {}
if not reply then return out end
for _, stream in ipairs(reply) do
  local parts = {}
  for _, entry in ipairs(stream[2]) do
    local fields = entry[2]
    if fields and #fields == 2 and fields[1] == 'e' then
      parts[#parts + 1] = entry[1] .. ' ' .. #fields[2] .. ' ' .. fields[2]
    else
      parts[#parts + 1] = entry[1] .. ' -1 '
    end
  end
  out[#out + 1] = stream[1]
  out[#out + 1] = table.concat(parts)
end
return out
"""


class Scripts:
    """Both scripts, registered with one client (EVALSHA, loaded again if Redis lost them)."""

    __slots__ = ("xadd", "read")

    def __init__(self, client: Redis) -> None:
        self.xadd: Any = client.register_script(XADD_LUA)
        self.read: Any = client.register_script(READ_LUA)


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
