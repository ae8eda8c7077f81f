"""Keyed partitions, the pure part: which partition a key falls in, and who owns each partition.

Nothing here talks to Redis. Every member of a consumer group runs ``assign`` on the same view
(the live members and the current owners) and so computes the same plan without a leader;
the leases in Redis (``framework.events.redis.leases``) make sure that, while views differ for
a moment, no partition ever has two owners.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def partition_of(key: str | bytes, partitions: int) -> int:
    """The partition (``0 .. partitions - 1``) of an event key: CRC-32 of its UTF-8 bytes, mod P.

    The hash must be the same in every process, host and Python version, so it is not
    Python's ``hash()`` (salted per process for str and bytes). Kafka uses murmur2; CRC-32
    (``zlib.crc32``, the IEEE polynomial, unsigned) serves as well here: it is in the
    standard library, fixed by a standard, fast, and spreads real keys (symbols, ids) evenly
    enough over a few dozen partitions (the tests check 10,000 keys over 8 and 32). A
    producer in another language computes the same partition with its own CRC-32.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be 1 or more, got {partitions}")
    data = key.encode() if isinstance(key, str) else key
    return zlib.crc32(data) % partitions


def quotas(partitions: int, members: Sequence[str], current: Mapping[int, str]) -> dict[str, int]:
    """How many partitions each member should own: floor(P/M), and ceil(P/M) for P mod M of them.

    The ceil quotas go to the members that own the most now (ties: by name), which is what
    makes the number of moves the least possible: a member over its quota gives up only its
    excess, and the one that owns most has the least excess when given the larger quota.
    """
    counts = dict.fromkeys(members, 0)
    for owner in current.values():
        if owner in counts:
            counts[owner] += 1
    base, extra = divmod(partitions, len(members))
    ranked = sorted(members, key=lambda member: (-counts[member], member))
    return {member: base + (1 if rank < extra else 0) for rank, member in enumerate(ranked)}


def assign(partitions: int, members: Sequence[str], current: Mapping[int, str]) -> dict[int, str]:
    """A balanced, sticky plan: partition -> member, every partition to exactly one member.

    Each member gets floor(P/M) or ceil(P/M) partitions. A partition stays with its current
    owner while that owner is a member within its quota (it keeps its lowest-numbered ones);
    the others go, lowest first, to the members below quota, in name order. So only the least
    possible number of partitions change owner. The plan depends only on the arguments (the
    members are sorted, duplicates dropped), so every member computes the same one. No
    members: an empty plan.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be 1 or more, got {partitions}")
    live = sorted(set(members))
    if not live:
        return {}
    owned = {p: owner for p, owner in current.items() if 0 <= p < partitions and owner in live}
    room = quotas(partitions, live, owned)
    plan: dict[int, str] = {}
    for partition in sorted(owned):
        owner = owned[partition]
        if room[owner] > 0:
            plan[partition] = owner
            room[owner] -= 1
    free = iter(p for p in range(partitions) if p not in plan)
    for member in live:
        for _ in range(room[member]):
            plan[next(free)] = member
    return dict(sorted(plan.items()))


def moves(before: Mapping[int, str], after: Mapping[int, str]) -> dict[int, tuple[str, str]]:
    """The partitions that changed owner: partition -> (old owner, new owner); '' for none."""
    changed = {}
    for partition in sorted(set(before) | set(after)):
        old, new = before.get(partition, ""), after.get(partition, "")
        if old != new:
            changed[partition] = (old, new)
    return changed


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One partition of a keyed topic, as a component's partition hooks receive it.

    ``on_partitions_assigned(partitions)`` and ``on_partitions_revoked(partitions)`` get a
    frozenset of these. ``holds(key)`` says whether a key's events go to this partition, so a
    component keeping state per key can drop (or hand over) exactly the keys it no longer owns.
    """

    topic: str
    index: int
    count: int  # the topic's number of partitions

    def holds(self, key: str | bytes) -> bool:
        """Whether events of ``key`` on this topic go to this partition."""
        return partition_of(key, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.topic}[{self.index}/{self.count}]"
