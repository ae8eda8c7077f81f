"""``RabbitBus``: the shared bus core routed over a RabbitMQ topic exchange.

The bus puts the backend's parts together: it signs what it publishes and waits for the
broker's confirms, gives each subscription a queue consumer, and keeps the dead-letter queue
and the reply queue. The parts share the bus's ``Link``; none of them imports this module.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.exceptions import DeliveryError
from loguru import logger

from framework.config.schema import Schema
from framework.events.core import BusCore
from framework.events.delivery import Worker
from framework.events.envelope import DEFAULT_PRIORITY, Envelope
from framework.events.errors import MissingSigningKeyError, StreamError
from framework.events.rabbitmq.acks import Acknowledger
from framework.events.rabbitmq.connection import CONNECTION_ERRORS, Link
from framework.events.rabbitmq.consumer import QueueConsumer
from framework.events.rabbitmq.deadletters import DeadLetterQueue
from framework.events.rabbitmq.replies import ReplyChannel
from framework.events.records import DeadLetter, DeadLetterReason
from framework.events.settings import BusSettings, safe_url
from framework.events.signing import Signer

_PERSISTENT = aio_pika.DeliveryMode.PERSISTENT
log = logger.bind(component="event_bus")


class RabbitBus(BusCore):
    """The event bus over RabbitMQ; same API and semantics as ``MemoryBus``, plus:

    - delivery is at least once: a consumer that dies mid-handler has its messages redelivered
      (to another process of the component, if one runs), up to ``rabbitmq.max_deliveries``;
    - a message is handled only if its signature is valid for its exchange and topic, it was
      signed within ``rabbitmq.replay_window``, and this process took no earlier copy of it;
    - ``overflow`` does not apply (the queue is the buffer; ``prefetch`` bounds what a
      process holds); priority orders what a process holds, not a queue;
    - keys are carried and checked, as in memory: there are no partitions;
    - ``history()`` lists the events this process published; dead letters live in a queue.
    """

    def __init__(
        self, settings: BusSettings | None = None, *, schemas: Mapping[str, Schema] | None = None
    ) -> None:
        super().__init__(settings, schemas=schemas)
        rabbit = self._settings.rabbitmq
        if not rabbit.signing_key:
            raise MissingSigningKeyError(
                "event_bus.rabbitmq.signing_key is required for the rabbitmq backend (HMAC-SHA256 "
                "signs every event); set a random string of 16+ characters"
            )
        self._link = link = Link(rabbit, self.node)
        self._signer = Signer(rabbit.signing_key, link.names.address)
        self._acks = Acknowledger()
        self._dead = DeadLetterQueue(link, self._signer, self._counters)
        self._dead.stored = self._failed  # every dead letter, whichever consumer set it aside
        self._reply_channel = ReplyChannel(link, self._signer, self._resolve_reply)
        self._consumers: dict[Worker, QueueConsumer] = {}
        self._queues: set[str] = set()  # every queue declared for a subscription, for queues()
        self._tasks: list[asyncio.Task[None]] = []

    # connection

    async def health(self) -> dict[str, Any]:
        """``BusCore.health``, and whether the broker is connected now (the app's readiness)."""
        report = await super().health()
        if report["status"] != "healthy":
            return report
        if not self._link.connected:
            return {"status": "unhealthy", "error": str(self._link.unreachable())}
        return {"status": "healthy", "rabbitmq": self._link.settings.address}

    async def _open(self) -> None:
        await self._link.open()
        try:
            await self._dead.declare()
        except CONNECTION_ERRORS as exc:
            await self._link.close()
            raise self._link.unreachable(exc) from exc
        self._tasks = [asyncio.get_running_loop().create_task(self._acks.run(), name="event-bus:ack")]

    async def _close_intake(self, deadline: float) -> None:
        for consumer in list(self._consumers.values()):
            await consumer.stop_consuming()

    async def _close(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while self._acks.pending and loop.time() < deadline + 1.0:  # handled: ack them
            await asyncio.sleep(0.001)
        self._acks.closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        for consumer in list(self._consumers.values()):
            await consumer.close()
        self._consumers.clear()
        await self._link.close()

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
        """Publish an event; return its envelope once the broker has confirmed it.

        Raises what ``MemoryBus.publish`` raises, EventSerializationError for data that is
        not JSON, BusConnectionError when RabbitMQ cannot be reached (or does not confirm
        within ``rabbitmq.publish_timeout``) and StreamError when it refuses the event.
        """
        envelope = self._envelope(
            topic, data, priority, source, correlation_id, causation_id, metadata, key, schema_version
        )
        await self._send([envelope])
        return envelope

    async def _publish_checked(self, envelopes: list[Envelope]) -> None:
        await self._send(envelopes)  # sent together, confirmed together

    async def _send(self, envelopes: list[Envelope]) -> None:
        link = self._link
        exchange = link.exchange
        if exchange is None or not link.connected:
            raise link.unreachable()
        seal, address, timeout = self._signer.seal, link.names.address, link.settings.publish_timeout
        # Signed for the exchange and topic: a message published again under another routing
        # key is dead-lettered 'wrong_stream'.
        sends = [
            exchange.publish(
                aio_pika.Message(seal(e, address(e.type)), delivery_mode=_PERSISTENT),
                e.type,
                mandatory=False,
                timeout=timeout,
            )
            for e in envelopes
        ]
        try:
            if len(sends) == 1:
                await sends[0]
            else:
                await asyncio.gather(*sends)
        except DeliveryError as exc:
            raise StreamError(f"RabbitMQ refused an event of '{envelopes[0].type}': {exc}") from exc
        except CONNECTION_ERRORS as exc:
            raise link.unreachable(exc) from exc
        self._history.extend(envelopes)
        self._published += len(envelopes)

    # subscribing

    async def _attach(self, worker: Worker) -> None:
        consumer = QueueConsumer(worker, self._link, self._signer, self._acks, self._dead)
        try:
            await consumer.prepare()
        except DeliveryError as exc:
            raise StreamError(f"RabbitMQ refused to set up '{worker.pattern}': {exc}") from exc
        except CONNECTION_ERRORS as exc:
            await consumer.close()
            if self._link.connected:  # the broker closed the channel: it refused something
                raise StreamError(
                    f"RabbitMQ refused to set up queue '{consumer.queue_name}' for "
                    f"'{worker.pattern}': {exc}"
                ) from exc
            raise self._link.unreachable(exc) from exc
        worker.on_success = consumer.delivered
        self._consumers[worker] = consumer
        self._queues.add(consumer.queue_name)

    def queues(self) -> set[str]:
        """The names of the durable queues this bus declared for its subscriptions (they outlive
        it: every process running a subscription shares its queue). Delete them yourself when
        the subscriber is gone for good."""
        return set(self._queues)

    def _detach(self, worker: Worker) -> None:
        consumer = self._consumers.pop(worker, None)
        super()._detach(worker)
        if consumer is not None:  # its queue stays: the subscription's processes share it
            self._tasks.append(asyncio.get_running_loop().create_task(consumer.close()))

    # dead letters

    async def _dead_letter(
        self, worker: Worker, envelope: Envelope, reason: DeadLetterReason, error: str
    ) -> None:
        consumer = self._consumers.get(worker)
        queue = consumer.queue_name if consumer is not None else ""
        try:
            await self._dead.store(worker.name, queue, reason, error, envelope)
        except CONNECTION_ERRORS as exc:  # unacknowledged, it comes back once the broker does
            log.warning(f"could not dead-letter '{envelope.type}' ({reason.value}): {exc}")
            return
        if consumer is not None:
            consumer.release(envelope)

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The dead-letter queue, oldest first (at most ``limit``, the newest ones)."""
        self._require_running("list dead letters")
        try:
            return await self._dead.letters(limit)
        except CONNECTION_ERRORS as exc:
            raise self._link.unreachable(exc) from exc

    async def replay_dead_letter(self, dead_letter_id: str) -> None:
        """Publish a dead letter again, for the subscription's queue only, and remove it.

        Other subscriptions of the topic skip the replayed message. It is signed anew
        (``replayed_at``), so the replay window counts from now. Raises
        DeadLetterNotFoundError for an unknown id, ReplayError for a foreign message.
        """
        self._require_running("replay a dead letter")

        async def publish(letter: DeadLetter, queue: str) -> None:
            assert letter.envelope is not None
            replay = letter.envelope.with_metadata(replay_for=queue, replayed_at=time.time())
            await self._send([replay])

        try:
            await self._dead.replay(dead_letter_id, publish)
        except CONNECTION_ERRORS as exc:
            raise self._link.unreachable(exc) from exc

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
        """``MemoryBus.request``; replies come to a queue private to this bus instance."""
        self._require_running(f"request '{topic}'")
        await self._reply_channel.listen()
        return await super().request(
            topic, data, timeout=timeout, priority=priority, source=source, metadata=metadata
        )

    async def _send_reply(self, reply_to: str, response: Envelope) -> None:
        if reply_to == self.node:
            self._resolve_reply(response)
        else:
            await self._reply_channel.send(reply_to, response)

    def __repr__(self) -> str:
        link = self._link
        return (
            f"RabbitBus({self._state.value}, {safe_url(link.settings.url)}, "
            f"exchange={link.names.exchange!r}, {len(self._workers)} subscription(s))"
        )
