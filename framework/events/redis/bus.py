"""``RedisBus``: the shared bus core routed over Redis Streams.

The bus puts the backend's parts together: it signs what it publishes and hands it to the
outbox, gives each subscription a stream reader, and keeps the dead-letter and reply streams.
The parts share the bus's ``Connection``; none of them imports this module.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from loguru import logger
from redis.exceptions import RedisError, ResponseError

from framework.config.schema import Schema
from framework.events.core import BusCore
from framework.events.delivery import Worker
from framework.events.envelope import DEFAULT_PRIORITY, Envelope
from framework.events.errors import (
    DuplicateSubscriberError,
    MissingSigningKeyError,
    ReplayError,
    StreamError,
)
from framework.events.partitioning import partition_of
from framework.events.records import DeadLetter, DeadLetterReason, PartitionStatus
from framework.events.redis.acks import Acknowledger
from framework.events.redis.client import Client
from framework.events.redis.connection import CONNECTION_ERRORS, Connection
from framework.events.redis.deadletters import DeadLetterStream
from framework.events.redis.keyed import PartitionedReader
from framework.events.redis.outbox import Outbox
from framework.events.redis.reader import StreamReader
from framework.events.redis.replays import ReplayGuard
from framework.events.redis.replies import ReplyChannel
from framework.events.redis.signing import Signer
from framework.events.settings import BusSettings, safe_url
from framework.events.topics import overlaps

log = logger.bind(component="event_bus")


class RedisBus(BusCore):
    """The event bus over Redis Streams; same API and semantics as ``MemoryBus``, plus:

    - delivery is at least once: a consumer that dies mid-handler has its entries redelivered;
    - an entry is handled only if its signature is valid for its stream, it was signed within
      ``redis.replay_window``, and no other entry carried the same signed event before it;
    - ``overflow`` does not apply (a stream is the buffer; MAXLEN trims its oldest entries);
    - priority orders the events one read brings in, not a stream;
    - a keyed event goes to its key's partition stream; within a subscriber group each
      partition is read by one bus at a time, one entry at a time, in order (``partitioned``);
      ``partitions()`` shows what this bus owns, and ``subscribe`` takes partition hooks;
    - ``history()`` lists the events this process published; dead letters live in a stream.
    """

    def __init__(
        self, settings: BusSettings | None = None, *, schemas: Mapping[str, Schema] | None = None
    ) -> None:
        super().__init__(settings, schemas=schemas)
        redis = self._settings.redis
        if not redis.signing_key:
            raise MissingSigningKeyError(
                "event_bus.redis.signing_key is required for the redis backend (HMAC-SHA256 "
                "signs every event); set a random string of 16+ characters"
            )
        self._connection = connection = Connection(redis, self.node, self._require_running)
        self._signer = Signer(redis.signing_key, connection.keys.stream)
        self._guard = ReplayGuard(connection, redis.replay_window)
        self.consumer = connection.consumer
        horizon = redis.claim_idle_ms * redis.max_deliveries / 1000
        if redis.replay_window <= horizon:
            log.warning(
                f"event_bus.redis.replay_window ({redis.replay_window} s) is not longer than "
                f"claim_idle_ms x max_deliveries ({horizon:g} s): entries a dead consumer left "
                "pending may expire (and be dead-lettered) before they are redelivered"
            )
        self._outbox = Outbox(connection)
        self._acks = Acknowledger(connection)
        self._dead = DeadLetterStream(
            connection, self._signer, self._counters, self._settings.dead_letter_size
        )
        self._dead.stored = self._failed  # every dead letter, whichever reader set it aside
        self._reply_channel = ReplyChannel(connection, self._signer, self._resolve_reply)
        self._readers: dict[Worker, StreamReader] = {}
        self._partitioned: dict[Worker, PartitionedReader] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # connection

    @property
    def client(self) -> Client:
        """The redis-py client (after ``start``): a ``RedisCluster`` with ``redis.cluster``."""
        return self._connection.client

    async def health(self) -> dict[str, Any]:
        """``BusCore.health``, and whether Redis answers a PING now (the app's readiness)."""
        report = await super().health()
        if report["status"] != "healthy":
            return report
        connection = self._connection
        try:
            await connection.client.ping()
        except CONNECTION_ERRORS as exc:
            return {"status": "unhealthy", "error": str(connection.unreachable(exc))}
        except RedisError as exc:  # still loading its data after a restart, say
            return {"status": "unhealthy", "error": f"Redis at {connection.settings.address}: {exc}"}
        return {"status": "healthy", "redis": connection.settings.address}

    async def _open(self) -> None:
        await self._connection.open()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._outbox.run(), name="event-bus:publish"),
            loop.create_task(self._acks.run(), name="event-bus:ack"),
        ]

    async def _close_intake(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        for partitioned in self._partitioned.values():  # hand partitions over while handlers run
            try:
                await partitioned.stop(settle_s=deadline - loop.time())
            except Exception as exc:  # the others take them over once the leases expire
                log.warning(f"subscriber '{partitioned.reader.group}' could not hand its partitions over: {exc}")
        for reader in self._readers.values():
            reader.closed = True
        readers = [r.task for r in self._readers.values() if r.task is not None]
        for task in readers:
            task.cancel()
        if readers:
            await asyncio.wait(readers, timeout=1.0)
        while not self._outbox.idle and loop.time() < deadline:
            await asyncio.sleep(0.001)

    async def _close(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while self._acks.pending and loop.time() < deadline + 1.0:  # handled: ack them
            await asyncio.sleep(0.001)
        self._connection.closing = True
        replies = self._reply_channel.task
        tasks = [*self._tasks, *([replies] if replies else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        self._readers.clear()
        self._partitioned.clear()
        await self._reply_channel.forget()
        await self._connection.close()

    # publishing

    async def publish(
        self,
        topic: str,
        data: Any = None,
        *,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        key: str | None = None,
        schema_version: int | None = None,
    ) -> Envelope:
        """Publish an event; return its envelope once Redis has stored it.

        Raises what ``MemoryBus.publish`` raises, EventSerializationError for data that is
        not JSON, and BusConnectionError when Redis cannot be reached.
        """
        envelope = self._envelope(
            topic, data, priority, source, correlation_id, causation_id, metadata, key, schema_version
        )
        await self._send([envelope])
        return envelope

    async def _publish_checked(self, envelopes: list[Envelope]) -> None:
        await self._send(envelopes)  # one script call for the whole burst

    async def _send(self, envelopes: list[Envelope]) -> None:
        seal, stream = self._signer.seal, self._stream_of
        if any(e.key is not None for e in envelopes):
            await self._register_keyed({e.type for e in envelopes if e.key is not None})
        # Signed for the stream it goes to: an entry copied to another stream is dead-lettered.
        await self._outbox.send([(e.type, (s := stream(e)), seal(e, s)) for e in envelopes])
        self._history.extend(envelopes)
        self._published += len(envelopes)

    def _stream_of(self, envelope: Envelope) -> str:
        """The topic's stream, or for a keyed event the stream of its key's partition."""
        keys, topic = self._connection.keys, envelope.type
        if envelope.key is None:
            return keys.stream(topic)
        return keys.partition(topic, partition_of(envelope.key, self._settings.partitions_of(topic)))

    async def _register_keyed(self, topics: set[str]) -> None:
        """Record keyed topics and their partition counts, so subscribers find their partitions."""
        connection = self._connection
        new = {t: self._settings.partitions_of(t) for t in sorted(topics - connection.keyed)}
        if not new:
            return
        try:
            await connection.client.hset(connection.keys.keyed, mapping=new)  # type: ignore[arg-type]
        except CONNECTION_ERRORS as exc:
            raise connection.unreachable(exc) from exc
        connection.keyed.update(new)

    # subscribing

    async def _attach(self, worker: Worker) -> None:
        self._refuse_overlap(worker)
        reader = StreamReader(
            worker,
            self._settings.redis,
            self._connection,
            self._signer,
            self._acks,
            self._dead,
            self._guard,
        )
        partitioned = PartitionedReader(reader, self._settings)
        try:
            await reader.prepare()
            await partitioned.prepare()
        except CONNECTION_ERRORS as exc:  # first: a cluster's CLUSTERDOWN is a ResponseError too
            raise self._connection.unreachable(exc) from exc
        except ResponseError as exc:
            raise StreamError(f"Redis refused to set up '{worker.pattern}': {exc}") from exc
        worker.on_success = reader.delivered
        self._readers[worker] = reader
        self._partitioned[worker] = partitioned
        reader.start()
        partitioned.start()

    def _refuse_overlap(self, worker: Worker) -> None:
        """On Redis a subscriber is one consumer group: two overlapping patterns would split it."""
        for other in self._workers:
            if other.name == worker.name and overlaps(other.pattern, worker.pattern):
                raise DuplicateSubscriberError(
                    f"subscriber '{worker.name}' already subscribes to '{other.pattern}', which "
                    f"overlaps '{worker.pattern}': on Redis a subscriber is one consumer group, so "
                    "the two handlers would split events; pass a distinct subscriber= to one"
                )

    def _detach(self, worker: Worker) -> None:
        reader = self._readers.pop(worker, None)
        if reader is not None and reader.task is not None:
            reader.closed = True
            reader.task.cancel()
        partitioned = self._partitioned.pop(worker, None)
        super()._detach(worker)
        if partitioned is not None:  # its worker is gone: hand over now, waiting for nothing
            task = asyncio.get_running_loop().create_task(partitioned.stop(settle_s=0.0))
            self._tasks.append(task)

    async def partitions(self) -> list[PartitionStatus]:
        """Per subscription and keyed topic: the partitions this process owns, their lag
        (entries not yet acknowledged), and how many rebalances moved partitions here or away."""
        self._require_running("list partitions")
        try:
            return [s for p in list(self._partitioned.values()) for s in await p.status()]
        except CONNECTION_ERRORS as exc:
            raise self._connection.unreachable(exc) from exc

    # dead letters

    async def _dead_letter(
        self, worker: Worker, envelope: Envelope, reason: DeadLetterReason, error: str
    ) -> None:
        stream, entry_id = envelope.receipt or ("", "")
        try:
            await self._dead.store(worker.name, reason, error, stream, entry_id, envelope)
        except (RedisError, OSError) as exc:
            # Left unacknowledged, the entry comes back once Redis does.
            log.warning(f"could not dead-letter '{envelope.type}' ({reason.value}): {exc}")
            return
        reader = self._readers.get(worker)
        if reader is not None and entry_id:
            reader.release(stream, entry_id)

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The dead-letter stream, oldest first (at most ``limit``, the newest ones)."""
        return await self._dead.letters(limit)

    async def replay_dead_letter(self, dead_letter_id: str) -> None:
        """Publish a dead letter again, for its subscriber only, and delete it.

        Other subscribers of the topic skip the replayed entry. It is signed anew
        (``replayed_at``), so the replay window counts from now. Raises
        DeadLetterNotFoundError for an unknown id, ReplayError for a foreign entry.
        """
        self._require_running("replay a dead letter")
        letter = await self._dead.fetch(dead_letter_id)
        if letter.envelope is None:
            raise ReplayError(
                f"dead letter {dead_letter_id} ({letter.reason.value}) is not a signed envelope "
                "of this bus; it cannot be replayed"
            )
        replay = letter.envelope.with_metadata(replay_for=letter.subscriber, replayed_at=time.time())
        await self._send([replay])
        await self._dead.delete(dead_letter_id)

    def reconfigure(self, settings: BusSettings) -> None:
        """``BusCore.reconfigure``; the dead-letter stream's bound follows ``dead_letter_size``."""
        super().reconfigure(settings)
        self._dead.maxlen = settings.dead_letter_size  # as MemoryBus's store does

    # request / reply

    async def request(
        self,
        topic: str,
        data: Any = None,
        *,
        timeout: float = 5.0,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Envelope:
        """``MemoryBus.request``; replies travel on a stream private to this bus instance."""
        self._require_running(f"request '{topic}'")
        self._reply_channel.listen()
        return await super().request(
            topic, data, timeout=timeout, priority=priority, source=source, metadata=metadata
        )

    async def _send_reply(self, reply_to: str, response: Envelope) -> None:
        if reply_to == self.node:
            self._resolve_reply(response)
        else:
            await self._reply_channel.send(reply_to, response)

    def __repr__(self) -> str:
        connection = self._connection
        return (
            f"RedisBus({self._state.value}, {safe_url(connection.settings.url)}, "
            f"prefix={connection.keys.prefix!r}, consumer={self.consumer!r}, "
            f"{len(self._workers)} subscription(s))"
        )
