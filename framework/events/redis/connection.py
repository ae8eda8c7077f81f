"""One bus's link to Redis: the client and its scripts, the key names, and what losing it means.

Every part of the Redis backend (outbox, acknowledgements, readers, dead letters, replies)
talks to Redis through the bus's ``Connection``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from framework.events.errors import BusConnectionError
from framework.events.redis.scripts import Scripts
from framework.events.settings import RedisSettings, safe_url

CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
"""Errors that mean Redis is out of reach for now: loops back off and try again."""
MAX_BACKOFF = 2.0  # seconds: the longest wait between retries while Redis stays out of reach


class Keys:
    """The names the bus uses in Redis: ``{prefix}:{topic}`` streams, and ``@`` keys of its own."""

    __slots__ = ("prefix", "registry", "keyed", "dead", "seen", "replies")

    def __init__(self, prefix: str, node: str) -> None:
        self.prefix = prefix
        # '@' cannot occur in a topic, so these never collide with a topic stream.
        self.registry = f"{prefix}:@topics"  # the set of every topic published to
        self.keyed = f"{prefix}:@keyed"  # a hash: keyed topic -> its partition count
        self.dead = f"{prefix}:@dead"
        self.seen = f"{prefix}:@seen:"  # + a signature's first 32 hex digits: a replay record
        self.replies = self.replies_of(node)  # where replies to this bus instance arrive

    def stream(self, topic: str) -> str:
        """The stream of a topic."""
        return f"{self.prefix}:{topic}"

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
        self.keys = Keys(settings.stream_prefix, node)
        self.registered: set[str] = set()  # topics known to be in the registry set
        self.keyed: set[str] = set()  # topics known to be in the keyed hash
        self.closing = False  # loops end when set, even if a cancellation went missing
        self._require_running = require_running
        self._client: Redis | None = None
        self._scripts: Scripts | None = None

    @property
    def client(self) -> Redis:
        """The redis-py client (after ``open``)."""
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
        client = Redis.from_url(
            settings.url,
            socket_connect_timeout=settings.connect_timeout,
            # No socket_timeout: redis-py then wraps each send in asyncio.wait_for, which on
            # Python 3.11 can swallow a cancellation and leave a reader running after stop().
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 1),  # one immediate retry replaces a stale pooled connection
            client_name=f"event-bus:{self.consumer}",
        )
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            raise BusConnectionError(
                f"Redis at {settings.address} unreachable: {exc} "
                f"(event_bus.redis.url = {safe_url(settings.url)})"
            ) from exc
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

