"""One subscription's queue: declared, bound with its pattern, consumed into its worker's mailbox.

The queue is durable and of type quorum, named for the subscriber and the pattern, so every
process running the subscription consumes from the same queue and the broker spreads the
messages among them (at most ``prefetch`` unacknowledged each). Quorum queues count how often a
message was delivered and not acknowledged, consumers that died included, in the header
``x-delivery-count``: that count, not one kept by a process (which would die with it), decides
when a message has been delivered ``max_deliveries`` times and is dead-lettered. Every message
passes the signature and the replay guard before its handler sees it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from loguru import logger

from framework.events.delivery import Worker
from framework.events.envelope import Envelope
from framework.events.rabbitmq.acks import Acknowledger
from framework.events.rabbitmq.connection import CONNECTION_ERRORS, Link, binding_key, quietly
from framework.events.rabbitmq.deadletters import DeadLetterQueue
from framework.events.rabbitmq.replays import ReplayGuard
from framework.events.records import DeadLetterReason
from framework.events.signing import Signer

log = logger.bind(component="event_bus")
QUEUE_ARGUMENTS: Any = {"x-queue-type": "quorum"}  # durable, replicated, and counting deliveries


class QueueConsumer:
    """Feeds one subscription's worker from its queue."""

    def __init__(
        self,
        worker: Worker,
        link: Link,
        signer: Signer,
        acks: Acknowledger,
        dead_letters: DeadLetterQueue,
    ) -> None:
        self.worker, self.group = worker, worker.name
        self.link, self.signer, self.acks, self.dead_letters = link, signer, acks, dead_letters
        # Records of its own: one event legitimately reaches every queue bound to its topic.
        self.guard = ReplayGuard(link.settings.replay_window)
        self.queue_name = link.names.queue(worker.name, worker.pattern)
        self.max_deliveries = link.settings.max_deliveries
        self.channel: AbstractChannel | None = None
        self.queue: AbstractQueue | None = None
        self.tag: str | None = None

    async def prepare(self) -> None:
        """Declare the queue, bind it to the exchange with the pattern, and start consuming."""
        link = self.link
        prefetch = min(link.settings.prefetch, self.worker.options.queue_size)
        self.channel = await link.new_channel(prefetch)
        self.queue = await self.channel.declare_queue(self.queue_name, durable=True, arguments=QUEUE_ARGUMENTS)
        assert link.exchange is not None
        await self.queue.bind(link.exchange, routing_key=binding_key(self.worker.pattern))
        self.tag = await self.queue.consume(self._on_message, no_ack=False)

    async def stop_consuming(self) -> None:
        """Take no more messages (those held stay ours until handled or the channel closes)."""
        if self.queue is not None and self.tag is not None:
            tag, self.tag = self.tag, None
            # Not while the broker is away: aio-pika would wait for it to come back. Its channel
            # is gone then, and the broker has already put the messages back.
            if self.link.connected:
                await quietly(self.queue.cancel(tag), self.link.settings.connect_timeout)

    async def close(self) -> None:
        """Close the channel: messages not acknowledged go back to the queue for others."""
        await self.stop_consuming()
        channel, self.channel = self.channel, None
        if channel is not None and not channel.is_closed and self.link.connected:
            await quietly(channel.close(), self.link.settings.connect_timeout)

    def delivered(self, envelope: Envelope) -> None:
        """Worker hook: the handler took the event, acknowledge its message."""
        self.acks.ack(*envelope._receipt)  # set here: (aiormq channel, delivery tag)

    def release(self, envelope: Envelope) -> None:
        """Acknowledge a message handled elsewhere (dead-lettered), if it came from a queue."""
        receipt = envelope.receipt
        if receipt is not None:
            self.acks.ack(*receipt)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self.acks.hold(message.channel, message.delivery_tag)
        body = message.body
        envelope, reason, error = self.signer.open_value(body, self.link.names.address(message.routing_key or ""))
        if envelope is None:
            await self._set_aside(message, None, reason or DeadLetterReason.UNDECODABLE, error)
            return
        replay_for = envelope.metadata.get("replay_for")
        if replay_for is not None and replay_for != self.queue_name:
            self.acks.ack(message.channel, message.delivery_tag)  # a replay meant for another queue
            return
        deliveries = _deliveries(message)
        if deliveries > self.max_deliveries:
            text = (
                f"delivered {deliveries - 1} times without acknowledgement (consumers died or "
                f"stalled); max_deliveries={self.max_deliveries}"
            )
            await self._set_aside(message, envelope, DeadLetterReason.MAX_DELIVERIES, text)
            return
        doubt = self.guard.doubt(envelope, body, message.redelivered or False)
        if doubt is not None:
            kept = envelope if doubt[0] is DeadLetterReason.EXPIRED else None
            await self._set_aside(message, kept, *doubt)
            return
        if self.worker.filter is not None and not await self._wanted(envelope):
            self.acks.ack(message.channel, message.delivery_tag)
            return
        if deliveries > 1:
            envelope.metadata = MappingProxyType({**envelope.metadata, "attempts": deliveries})
        envelope._receipt = (message.channel, message.delivery_tag)
        self.worker.mailbox.put(envelope)

    async def _set_aside(
        self,
        message: AbstractIncomingMessage,
        envelope: Envelope | None,
        reason: DeadLetterReason,
        error: str,
    ) -> None:
        """Dead-letter a message that is not to be handled, then acknowledge it.

        Only an event that can be delivered again is kept as one (expired, delivered too
        often); anything else is kept as its body, for diagnosis."""
        raw = None if envelope is not None else message.body
        try:
            await self.dead_letters.store(self.group, self.queue_name, reason, error, envelope, raw)
        except CONNECTION_ERRORS as exc:  # unacknowledged, it comes back once the broker does
            log.warning(f"subscriber '{self.group}': could not dead-letter a message ({reason.value}): {exc}")
            return
        self.acks.ack(message.channel, message.delivery_tag)

    async def _wanted(self, envelope: Envelope) -> bool:
        try:
            return bool(self.worker.filter(envelope))  # type: ignore[misc]
        except Exception as exc:
            text = f"filter of subscriber '{self.group}' raised {type(exc).__name__}: {exc}"
            await self.dead_letters.store(
                self.group, self.queue_name, DeadLetterReason.FILTER_FAILED, text, envelope
            )
            return False


def _deliveries(message: AbstractIncomingMessage) -> int:
    """Which delivery of the message this is: 1 + the times the quorum queue had it returned."""
    headers: Any = message.headers
    count = headers.get("x-delivery-count") if headers else None
    return int(count) + 1 if type(count) is int else 1
