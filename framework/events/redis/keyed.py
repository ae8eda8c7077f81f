"""A subscription's keyed topics: which its pattern matches, and a partitioned reader for each.

A topic is keyed once a publisher recorded it in the hash ``{prefix}:@keyed`` (topic -> its
partition count), or when ``event_bus.topics`` gives it a key field (so subscribers join its
group before anything is published). The subscription looks again every ``refresh_ms``, as the
stream reader does for plain topics, and runs one ``KeyedTopicReader`` per keyed topic found.
It also answers the worker's ``admit`` for them: a partition's entry is handled only while
its feed may hand it over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger

from framework.events.envelope import Envelope
from framework.events.errors import PartitionSettingsError
from framework.events.records import PartitionStatus
from framework.events.redis.connection import CONNECTION_ERRORS
from framework.events.redis.partitioned import KeyedTopicReader
from framework.events.redis.reader import StreamReader
from framework.events.settings import BusSettings
from framework.events.topics import matches

log = logger.bind(component="event_bus")


class PartitionedReader:
    """A subscription's keyed topics: finds those its pattern matches, runs a reader for each.

    A topic is keyed once a publisher recorded it in ``@keyed`` (with its partition count), or
    when ``event_bus.topics`` gives it a key field (so subscribers join before any publish).
    """

    def __init__(self, reader: StreamReader, settings: BusSettings) -> None:
        self.reader, self.settings = reader, settings
        self.topics: dict[str, KeyedTopicReader] = {}
        self.refused: set[str] = set()  # topics whose group refused this member's settings
        self.gates: dict[str, Callable[[str], bool]] = {}  # kept after a revocation: it refuses then
        self.closed = False
        self.task: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        """Join the groups of the keyed topics known now."""
        await self._refresh()

    def start(self) -> None:
        """Look for new keyed topics every ``refresh_ms`` (in a task of its own)."""
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"event-bus:partitions:{self.reader.group}:{self.reader.worker.pattern}"
        )

    async def stop(self, settle_s: float | None = None) -> None:
        """Hand every partition over; wait at most ``settle_s`` for a handler in flight."""
        self._end()
        for topic in self.topics.values():
            if settle_s is not None:
                topic.settle_s = min(topic.settle_s, max(0.0, settle_s))
            await topic.stop()

    async def abandon(self) -> None:
        """Stop at once without handing anything over, as a crash would."""
        self._end()
        for topic in self.topics.values():
            await topic.abandon()

    def admit(self, envelope: Envelope) -> bool:
        """``Worker.admit``: an entry of a partition is handled only while its lease is held."""
        receipt = envelope.receipt
        gate = self.gates.get(receipt[0]) if receipt is not None else None
        return gate is None or gate(receipt[1])

    async def status(self) -> list[PartitionStatus]:
        """Per keyed topic: the partitions owned, their lag, the rebalances."""
        return [await self.topics[t].status() for t in sorted(self.topics)]

    def _end(self) -> None:
        self.closed = True
        if self.task is not None:
            self.task.cancel()

    async def _run(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.reader.refresh_s)
            try:
                await self._refresh()
            except CONNECTION_ERRORS as exc:
                log.debug(f"subscriber '{self.reader.group}' looking for keyed topics: {exc}")
            except Exception as exc:  # keep looking: the next refresh may succeed
                log.error(f"subscriber '{self.reader.group}' looking for keyed topics: {type(exc).__name__}: {exc}")

    async def _refresh(self) -> None:
        connection, pattern = self.reader._connection, self.reader.worker.pattern
        recorded: Any = await connection.client.hgetall(connection.keys.keyed)
        found = {t.decode(): int(p) for t, p in recorded.items() if matches(pattern, t.decode())}
        for topic, declared in self.settings.topics.items():  # keyed by config: known before any publish
            if declared.key and matches(pattern, topic):
                found.setdefault(topic, self.settings.partitions_of(topic))
        for topic, count in sorted(found.items()):
            if topic in self.topics or topic in self.refused or self.closed:
                continue
            keyed = KeyedTopicReader(self.reader, topic, count, self.gates)
            self.reader.worker.admit = self.admit
            try:
                await keyed.start()
            except PartitionSettingsError as exc:
                self.refused.add(topic)
                log.error(f"subscriber '{self.reader.group}' does not read '{topic}': {exc}")
                continue
            self.topics[topic] = keyed
