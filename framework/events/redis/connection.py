"""One bus's link to Redis: the client and its scripts, the key names, and what losing it means.

Every part of the Redis backend (outbox, acknowledgements, readers, dead letters, replies)
talks to Redis through the bus's ``Connection``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from redis.exceptions import (
    ClusterDownError,
    RedisClusterUnreachableError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from framework.events.errors import BusConnectionError
from framework.events.redis.client import Client, connect
from framework.events.redis.scripts import Scripts
from framework.events.settings import RedisSettings

CONNECTION_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    # A cluster that cannot serve a slot for now (a master died and its replica is not yet
    # promoted, a slot is moving): as out of reach as a server that is down.
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
    RedisClusterUnreachableError,
)
"""Errors that mean Redis is out of reach for now: loops back off and try again. Some are
ResponseErrors: catch these before ResponseError."""
MAX_BACKOFF = 2.0  # seconds: the longest wait between retries while Redis stays out of reach


class Keys:
    """The names the bus uses in Redis: a stream per topic, and ``@`` keys of its own.

    On one server a topic's stream is ``{prefix}:<topic>``. On a Redis Cluster (``cluster``) it
    is ``{prefix}:{<topic>}``: every key one script or multi-key command touches must live in
    one hash slot, and the braces make the topic the hash tag, so a topic's stream, its
    partitions, their leases and its replay records share a slot while topics spread over the
    nodes. The single-server names stay as they were, so an upgrade keeps existing streams,
    their consumer groups and pending entries.
    """

    __slots__ = ("prefix", "cluster", "registry", "keyed", "dead", "replies")

    def __init__(self, prefix: str, node: str, *, cluster: bool = False) -> None:
        self.prefix, self.cluster = prefix, cluster
        # '@' cannot occur in a topic, so these never collide with a topic stream. Each is
        # one key, touched alone, so on a cluster it may live in any slot.
        self.registry = f"{prefix}:@topics"  # the set of every topic published to
        self.keyed = f"{prefix}:@keyed"  # a hash: keyed topic -> its partition count
        self.dead = f"{prefix}:@dead"
        self.replies = self.replies_of(node)  # where replies to this bus instance arrive

    def seen(self, stream: str) -> str:
        """The prefix of the replay records of a stream's entries: + a signature's first 32 hex
        digits. Scripts reading a stream write its records, so on a cluster they carry its tag
        (a record is only ever compared within its stream: a signature covers the stream)."""
        if self.cluster:
            return f"{self.prefix}:{{{tag(stream)}}}:@seen:"
        return f"{self.prefix}:@seen:"

    def together(self, streams: Iterable[str]) -> list[list[str]]:
        """The streams cut into the groups one command or script may touch together: all of
        them on one server; on a cluster, those of one hash tag (one slot)."""
        if not self.cluster:
            return [list(streams)]
        groups: dict[str, list[str]] = {}
        for stream in streams:
            groups.setdefault(tag(stream), []).append(stream)
        return list(groups.values())

    def stream(self, topic: str) -> str:
        """The stream of a topic."""
        return f"{self.prefix}:{{{topic}}}" if self.cluster else f"{self.prefix}:{topic}"

    def replies_of(self, node: str) -> str:
        """The reply stream of the bus instance ``node``."""
        return f"{self.prefix}:@reply:{node}"

    # Keyed partitions. Every key of one topic carries the hash tag ``{topic}``, so a topic's
    # partition streams and its groups' leases live in one Redis Cluster slot and one script
    # can check a lease and XACK a partition's entry (the fenced ack). A topic never holds
    # braces; a prefix must not either, or its braces would be taken for the tag.

    def partition(self, topic: str, partition: int) -> str:
        """The stream of one partition of a keyed topic."""
        return f"{self.prefix}:{{{topic}}}:{partition}"

    def members(self, topic: str, group: str) -> str:
        """The live members of a group on a keyed topic: a sorted set, member -> expiry (ms)."""
        return f"{self.prefix}:{{{topic}}}:@members:{group}"

    def lease(self, topic: str, group: str, partition: int) -> str:
        """The lease of one partition within a group: a hash of owner and token, with a PX expiry."""
        return f"{self.prefix}:{{{topic}}}:@lease:{group}:{partition}"

    def notices(self, topic: str, group: str) -> str:
        """A short stream of a group's membership and lease changes, which wakes waiting members."""
        return f"{self.prefix}:{{{topic}}}:@notices:{group}"

    def settings(self, topic: str, group: str) -> str:
        """The partition count and lease time a group's live members share (a hash)."""
        return f"{self.prefix}:{{{topic}}}:@settings:{group}"

    def tokens(self, topic: str, group: str) -> str:
        """The last fencing token handed out per partition of a group (never expires)."""
        return f"{self.prefix}:{{{topic}}}:@tokens:{group}"


def tag(key: str) -> str:
    """The hash tag of a key, as Redis Cluster takes it: between the first '{' and the next '}'
    (the whole key when there is none, or nothing between them)."""
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    return key[start + 1 : end] if end > start + 1 else key


class Connection:
    """The client (between ``open`` and ``close``) and what the bus knows of the server.

    ``require_running`` is the bus's check, called when the client is asked for while there is
    none: it raises the error that names the bus and its state.
    """

    def __init__(
        self, settings: RedisSettings, node: str, require_running: Callable[[str], None]
    ) -> None:
        self.settings = settings
        self.consumer = settings.consumer_name
        self.keys = Keys(settings.stream_prefix, node, cluster=settings.cluster)
        self.registered: set[str] = set()  # topics known to be in the registry set
        self.keyed: set[str] = set()  # topics known to be in the keyed hash
        self.closing = False  # loops end when set, even if a cancellation went missing
        self._require_running = require_running
        self._client: Client | None = None
        self._scripts: Scripts | None = None

    @property
    def client(self) -> Client:
        """The redis-py client (after ``open``): a ``RedisCluster`` when ``cluster`` is set."""
        if self._client is None:
            self._require_running("use Redis")
        return self._client  # type: ignore[return-value]

    @property
    def scripts(self) -> Scripts:
        """The Lua scripts, registered with the client (after ``open``)."""
        if self._scripts is None:
            self._require_running("use Redis")
        return self._scripts  # type: ignore[return-value]

    @property
    def connected(self) -> bool:
        """Between a successful ``open`` and ``close``."""
        return self._client is not None

    def unreachable(self, exc: BaseException) -> BusConnectionError:
        """The error to raise when a command failed with one of ``CONNECTION_ERRORS``."""
        return BusConnectionError(f"Redis at {self.settings.address} unreachable: {exc}")

    async def open(self) -> None:
        """Connect and check that Redis answers; BusConnectionError (URL without password) if not."""
        settings = self.settings
        client = await connect(
            settings.url,
            cluster=settings.cluster,
            connect_timeout=settings.connect_timeout,
            client_name=f"event-bus:{self.consumer}",
        )
        self._client = client
        self._scripts = Scripts(client)

    async def close(self) -> None:
        """Close the client (its pool of connections)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def pause(backoff: float) -> float:
    """Sleep ``backoff`` seconds; return the next, longer one (up to ``MAX_BACKOFF``)."""
    await asyncio.sleep(backoff)
    return min(backoff * 2, MAX_BACKOFF)

