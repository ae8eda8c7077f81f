"""Partition leases in Redis for one consumer group on one keyed topic, with fencing tokens.

Five kinds of key, all tagged ``{topic}`` (see ``Keys``) so they share a Cluster slot with
the topic's partition streams:

- ``@members:<group>``: a sorted set of the live members, each scored with the server time
  (ms) at which it stops counting as live. A member's heartbeat pushes its time on by one
  lease; a member that misses beats for a whole lease (crashed, paused, cut off) is dropped
  by the next heartbeat of anyone.
- ``@lease:<group>:<p>``: who owns partition p: a hash {owner, token} with a PX expiry of one
  lease, renewed by its owner's heartbeats. It is taken only while free, so at any moment a
  partition has at most one owner; an owner that stops renewing loses it when it expires.
- ``@notices:<group>``: a short stream of changes the others should act on now (a member
  joined, left or expired; leases released). Members wait for it between heartbeats, so a
  rebalance takes a few round trips, not a heartbeat or two.
- ``@settings:<group>``: the partition count and lease time of the live members; a member
  with other settings is refused (``PartitionSettingsError``), since its plans would never agree.
- ``@tokens:<group>``: the last token handed out per partition. Every acquisition takes the
  next one, so a later owner always holds a larger token than any earlier owner. Acks carry
  the token and are refused once it is stale (``fenced_ack``): a process that was paused
  past its lease cannot ack an entry its successor now owns, even before it notices.

The heartbeat is one script call whatever the number of partitions: register, prune, renew,
and read every partition's owner. Times are Redis's own, so members' clocks need not agree.
Deciding who should own what is ``partitioning.assign``; acting on it is ``coordinator``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from framework.events.errors import PartitionSettingsError
from framework.events.redis.connection import Connection
from framework.events.topics import validate_topic


@dataclass(frozen=True, slots=True)
class View:
    """What one heartbeat saw: the live members, the partitions' owners, the leases lost."""

    members: tuple[str, ...]  # sorted by name, this member included
    owners: dict[int, str]  # partition -> owner, for the partitions that have one
    lost: frozenset[int]  # partitions this member held, whose lease is no longer its own
    notice: str  # the id of the last notice this view already reflects ('0-0': none yet)
    next_expiry: float  # seconds until the first live member's time runs out, unless it beats


class PartitionLeases:
    """The leases of one (group, topic) as seen by one member: beat, acquire, release, fenced ack.

    ``lease_ms`` is how long a lease (and a membership) lasts without a heartbeat: every
    member of a group must use the same value. ``member`` must be unique to the process (the
    bus's consumer name, ``<host>-<pid>`` by default): two processes under one name count as
    one member, and only one of them can hold its partitions. The commands raise what
    redis-py raises; the caller (``Coordinator``) decides what a lost connection means.
    """

    def __init__(
        self,
        connection: Connection,
        topic: str,
        group: str,
        partitions: int,
        member: str,
        *,
        lease_ms: int = 3000,
    ) -> None:
        validate_topic(topic)
        if partitions < 1:
            raise ValueError(f"partitions of '{topic}' must be 1 or more, got {partitions}")
        if lease_ms < 1:
            raise ValueError(f"lease_ms of '{topic}' must be 1 or more, got {lease_ms}")
        if not member:
            raise ValueError(f"the member of group '{group}' on '{topic}' needs a name")
        self.connection, self.topic, self.group = connection, topic, group
        self.partitions, self.member, self.lease_ms = partitions, member, lease_ms
        keys = connection.keys
        self.members_key = keys.members(topic, group)
        self.notices_key = keys.notices(topic, group)
        self.settings_key = keys.settings(topic, group)
        self.tokens_key = keys.tokens(topic, group)
        self.lease_keys = [keys.lease(topic, group, p) for p in range(partitions)]
        self.streams = [keys.partition(topic, p) for p in range(partitions)]

    async def beat(self, tokens: Mapping[int, int]) -> View:
        """Heartbeat: stay a live member, renew the leases held (partition -> token), look around.

        PartitionSettingsError when the group's other live members use another partition
        count or lease time.
        """
        held = [str(tokens.get(p, 0)) for p in range(self.partitions)]
        try:
            members, owners, lost, notice, first_expiry_ms = await self.connection.scripts.beat(
                keys=[self.members_key, self.notices_key, self.settings_key, *self.lease_keys],
                args=[self.member, self.lease_ms, *held],
            )
        except ResponseError as exc:
            if not str(exc).startswith("SETTINGS "):
                raise
            raise self._mismatch(str(exc)) from exc
        return View(
            members=tuple(m.decode() for m in members),
            owners={p: o.decode() for p, o in enumerate(owners) if o},
            lost=frozenset(int(p) for p in lost),
            notice=notice.decode(),
            next_expiry=int(first_expiry_ms) / 1000,
        )

    def _mismatch(self, reply: str) -> PartitionSettingsError:
        _, partitions, lease_ms = reply.split()
        return PartitionSettingsError(
            f"member '{self.member}' cannot join group '{self.group}' on '{self.topic}' with "
            f"{self.partitions} partitions and a {self.lease_ms} ms lease: its live members use "
            f"{partitions} partitions and a {lease_ms} ms lease. Give every member the same "
            "settings; to change them, stop every member first"
        )

    async def acquire(self, partitions: Iterable[int]) -> dict[int, int]:
        """Take the free leases among ``partitions``: partition -> new token, for those taken."""
        wanted = sorted(partitions)
        if not wanted:
            return {}
        tokens = await self.connection.scripts.acquire(
            keys=[self.tokens_key, *(self.lease_keys[p] for p in wanted)],
            args=[self.member, self.lease_ms, *wanted],
        )
        return {p: int(token) for p, token in zip(wanted, tokens, strict=True) if int(token) > 0}

    async def release(self, tokens: Mapping[int, int]) -> int:
        """Give up leases (partition -> token) still held with those tokens; how many were."""
        if not tokens:
            return 0
        ordered = sorted(tokens.items())
        released = await self.connection.scripts.release(
            keys=[self.notices_key, *(self.lease_keys[p] for p, _ in ordered)],
            args=[self.member, self.lease_ms, *(token for _, token in ordered)],
        )
        return int(released)

    async def fenced_ack(self, partition: int, token: int, entry_ids: Iterable[str]) -> int | None:
        """XACK entries of a partition's stream if the lease is still ours with ``token``.

        The number acknowledged, or None when the lease is lost (the token is stale): the ack
        was refused and the caller must stop handling that partition.
        """
        return (await self.fenced_acks({partition: (token, list(entry_ids))}))[partition]

    async def fenced_acks(self, acks: Mapping[int, tuple[int, Sequence[str]]]) -> dict[int, int | None]:
        """``fenced_ack`` for several partitions (partition -> (token, entry ids)) in one call."""
        ordered = sorted(acks.items())
        keys: list[str] = []
        args: list[Any] = [self.member, self.group]
        for partition, (token, ids) in ordered:
            keys += [self.lease_keys[partition], self.streams[partition]]
            args += [token, len(ids), *ids]
        if not keys:
            return {}
        replies = await self.connection.scripts.fenced_ack(keys=keys, args=args)
        return {p: None if int(n) < 0 else int(n) for (p, _), n in zip(ordered, replies, strict=True)}

    async def leave(self) -> None:
        """Stop counting as a live member now, and tell the others."""
        await self.connection.scripts.leave(keys=[self.members_key, self.notices_key], args=[self.member, self.lease_ms])

    async def notices(self, after: str, block_ms: int) -> tuple[str, set[str]]:
        """Wait up to ``block_ms`` for notices after the id ``after``: (last id, who sent them).

        Returns ``(after, set())`` when none came in time.
        """
        reply: Any = await self.connection.client.xread({self.notices_key: after}, block=max(1, block_ms))
        if not reply:
            return after, set()
        [(_, entries)] = reply
        senders = {fields.get(b"member", b"").decode() for _, fields in entries}
        return entries[-1][0].decode(), senders

    async def owners(self) -> dict[int, tuple[str, int]]:
        """Each owned partition's (owner, token), read from the leases (for status and tests)."""
        async with self.connection.client.pipeline(transaction=False) as pipe:
            for key in self.lease_keys:
                pipe.hmget(key, "owner", "token")
            replies = await pipe.execute()
        return {
            p: (owner.decode(), int(token))
            for p, (owner, token) in enumerate(replies)
            if owner is not None and token is not None
        }
