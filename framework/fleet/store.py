"""The fleet's state in Redis: overlay versions, the writers' lock, members, and its streams.

Every key carries the hash tag ``{<fleet name>}``, so a fleet lives in one Redis Cluster slot
and each Lua script below touches keys of one slot. Writes of overlay versions are fenced:
a writer holds the lock with a token, and a script writes only while that token still holds
it, so a writer whose lock expired (it stalled) can never interleave with the next one.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from framework.events.redis.client import Client
from framework.fleet.records import Member, OverlayVersion

ANSWERS_MAXLEN = 10_000  # approximate: answers older than this many are trimmed
ORDERS_MAXLEN = 1_000
DEAD_MAXLEN = 1_000

CONNECTION_ERRORS = (RedisError, RedisClusterException, OSError)
"""What a loop outlives: Redis gone, restarting, a cluster failing over, or refusing for now."""

_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[2]) then return -2 end
local version = tonumber(ARGV[2]) + 1
redis.call('SET', KEYS[2], version)
redis.call('HSET', KEYS[3], version, ARGV[3])
if ARGV[4] == '1' then redis.call('SET', KEYS[4], version) end
local oldest = version - tonumber(ARGV[5])
if oldest > 0 then redis.call('HDEL', KEYS[3], oldest) end
return version
"""
_PROMOTE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class StaleWriterError(RuntimeError):
    """The lock moved to another writer (this one stalled past its lease): nothing was written."""


class FleetStore:
    """One fleet's keys, and the operations on them (async). ``{<fleet>}`` is the keys' hash tag."""

    def __init__(self, client: Client, fleet: str) -> None:
        self.client, self.fleet = client, fleet
        prefix = f"fleet:{{{fleet}}}"
        self.lock_key, self.fence_key = f"{prefix}:lock", f"{prefix}:fence"
        self.seq_key, self.versions_key, self.current_key = f"{prefix}:seq", f"{prefix}:versions", f"{prefix}:current"
        self.canary_key = f"{prefix}:canary"  # {version, targets} while a canary bakes
        self.members_key, self.member_prefix = f"{prefix}:members", f"{prefix}:member:"
        self.orders, self.answers, self.dead = f"{prefix}:orders", f"{prefix}:answers", f"{prefix}:dead"
        self.draft_prefix = f"{prefix}:draft:"
        self.abandoned_key = f"{prefix}:abandoned"  # version -> why it never became current
        self._write = client.register_script(_WRITE)
        self._promote = client.register_script(_PROMOTE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    # overlay versions

    async def current_version(self) -> int:
        """The version every instance should run (0: no overlay was ever set)."""
        return int(await self.client.get(self.current_key) or 0)

    async def latest_version(self) -> int:
        """The last version written (a canary may not have made it current)."""
        return int(await self.client.get(self.seq_key) or 0)

    async def desired_version(self, instance: str) -> int:
        """The version ``instance`` should run: a baking canary's, else the current one."""
        current, canary = await self.client.mget([self.current_key, self.canary_key])
        if canary:
            pinned = json.loads(canary)
            if instance in pinned["targets"]:
                return int(pinned["version"])
        return int(current or 0)

    async def pin_canary(self, version: int, targets: list[str], ttl_s: float) -> None:
        """Let ``targets`` run ``version`` before it is current; forgotten after ``ttl_s`` unless
        renewed with the lock (a controller that died mid-bake leaves its canaries to return
        to the current version)."""
        await self.client.set(self.canary_key, json.dumps({"version": version, "targets": targets}), px=int(ttl_s * 1000))

    async def unpin_canary(self) -> None:
        await self.client.delete(self.canary_key)

    async def version(self, number: int) -> OverlayVersion | None:
        if number <= 0:
            return None
        text = await self.client.hget(self.versions_key, str(number))
        return OverlayVersion.from_json(text) if text else None

    async def current(self) -> OverlayVersion | None:
        return await self.version(await self.current_version())

    async def history(self) -> list[OverlayVersion]:
        texts = await self.client.hvals(self.versions_key)
        return sorted((OverlayVersion.from_json(t) for t in texts), key=lambda v: v.version)

    async def write(self, record: OverlayVersion, token: str, *, current: bool, keep: int) -> int:
        """Write ``record`` as the next version (its own number is ignored); make it current
        when ``current``. StaleWriterError when ``token`` no longer holds the lock."""
        base = await self.latest_version()
        text = OverlayVersion(base + 1, record.values, record.set_at, record.set_by, record.note,
                              record.changes, record.secrets).to_json()
        keys = [self.lock_key, self.seq_key, self.versions_key, self.current_key]
        version = int(await self._write(keys=keys, args=[token, base, text, "1" if current else "0", keep]))
        if version < 0:
            raise StaleWriterError(f"the lock of fleet '{self.fleet}' moved to another writer; nothing written")
        return version

    async def promote(self, version: int, token: str) -> None:
        """Make a written version current (a canary that baked well)."""
        if int(await self._promote(keys=[self.lock_key, self.current_key], args=[token, version])) < 0:
            raise StaleWriterError(f"the lock of fleet '{self.fleet}' moved to another writer; v{version} not made current")

    async def abandon(self, version: int, reason: str) -> None:
        """Say why a written version never became current (its canary failed)."""
        await self.client.hset(self.abandoned_key, str(version), reason)

    async def abandoned(self) -> dict[int, str]:
        found: Any = await self.client.hgetall(self.abandoned_key)
        return {int(k): v.decode() if isinstance(v, bytes) else v for k, v in found.items()}

    # the writers' lock

    async def acquire(self, lease_s: float, wait_s: float) -> str | None:
        """A fencing token once the lock is ours, or None after ``wait_s`` seconds."""
        deadline = time.monotonic() + wait_s
        while True:
            token = f"{await self.client.incr(self.fence_key)}:{secrets.token_hex(4)}"
            if await self.client.set(self.lock_key, token, nx=True, px=int(lease_s * 1000)):
                return token
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def renew(self, token: str, lease_s: float) -> bool:
        """Extend the lock, and a canary's pin if there is one, while ``token`` holds the lock."""
        return bool(await self._renew(keys=[self.lock_key, self.canary_key], args=[token, int(lease_s * 1000)]))

    async def release(self, token: str) -> None:
        await self._release(keys=[self.lock_key], args=[token])

    # drafts (a dry run's values: kept here, so no value, secret or not, travels in an order)

    async def put_draft(self, values: dict[str, Any], ttl_s: float) -> str:
        key = secrets.token_hex(8)
        record = OverlayVersion(0, values, time.time(), "")
        await self.client.set(self.draft_prefix + key, record.to_json(), px=int(ttl_s * 1000))
        return key

    async def draft(self, key: str) -> dict[str, Any] | None:
        text = await self.client.get(self.draft_prefix + key)
        return dict(OverlayVersion.from_json(text).values) if text else None

    # members

    async def register(self, member: Member, ttl_s: float) -> None:
        expiry = int((time.time() + ttl_s) * 1000)
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.member_prefix + member.instance, member.to_json(), px=int(ttl_s * 1000))
        pipe.zadd(self.members_key, {member.instance: expiry})
        await pipe.execute()

    async def leave(self, instance: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(self.member_prefix + instance)
        pipe.zrem(self.members_key, instance)
        await pipe.execute()

    async def members(self) -> list[Member]:
        """Every live member, by name; the ones whose TTL ran out are dropped from the set."""
        found: Any = await self.client.zrange(self.members_key, 0, -1)
        names: list[str] = [n.decode() if isinstance(n, bytes) else n for n in found]
        if not names:
            return []
        texts = await self.client.mget([self.member_prefix + n for n in names])
        gone = [n for n, t in zip(names, texts, strict=True) if t is None]
        if gone:
            await self.client.zrem(self.members_key, *gone)
        return sorted((Member.from_json(t) for t in texts if t is not None), key=lambda m: m.instance)

    # streams

    async def last_id(self, stream: str) -> str:
        """The id of the newest entry of ``stream`` ('0-0' when empty): read after it."""
        entries: Any = await self.client.xrevrange(stream, count=1)
        return entries[0][0].decode() if entries else "0-0"

    async def add(self, stream: str, fields: dict[Any, Any], maxlen: int) -> str:
        entry_id = await self.client.xadd(stream, fields, maxlen=maxlen, approximate=True)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def read(self, stream: str, after: str, block_ms: int) -> list[tuple[str, dict[bytes, bytes]]]:
        """Entries after ``after``, waiting up to ``block_ms`` for the first."""
        reply: Any = await self.client.xread({stream: after}, block=block_ms, count=100)
        entries = reply[0][1] if reply else []
        return [(i.decode() if isinstance(i, bytes) else i, fields) for i, fields in entries]

    async def aclose(self) -> None:
        await self.client.aclose()

