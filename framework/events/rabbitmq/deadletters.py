"""The dead letters: the fanout exchange ``<exchange>.@dead`` and the durable queue behind it.

A dead letter is a message on that queue: headers name the subscriber (its queue), the reason,
the error and the time; the body is the event signed anew for the dead-letter queue (without
this bus's delivery bookkeeping) or, for a message that is not an event of this bus, nothing,
with its body kept, truncated, in the header ``raw`` for diagnosis.

RabbitMQ cannot show a queue without taking from it, so listing takes every dead letter on a
channel of its own without acknowledging any, and closes that channel: the broker puts them all
back, in their order. Replaying one takes them the same way and acknowledges only that one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractQueue

from framework.events.counters import Counters
from framework.events.envelope import Envelope, new_id
from framework.events.errors import DeadLetterNotFoundError, ReplayError
from framework.events.failures import FailureListener, set_aside
from framework.events.rabbitmq.connection import CONNECTION_ERRORS, Link
from framework.events.records import DeadLetter, DeadLetterReason
from framework.events.signing import Signer

_DELIVERY_KEYS = ("attempts", "replay_for", "replayed_at")  # bookkeeping of this bus, not the event's
_RAW_LIMIT = 1000  # characters of a foreign message kept for diagnosis

Replay = Callable[[DeadLetter, str], Awaitable[None]]
"""Publishes a dead letter again, given it and the queue it came from."""


class DeadLetterQueue:
    """The dead letters of one exchange, in RabbitMQ; counts each stored in its subscriber's counters."""

    def __init__(self, link: Link, signer: Signer, counters: Counters) -> None:
        self._link, self._signer, self._counters = link, signer, counters
        self.name = link.names.dead
        self._exchange: AbstractExchange | None = None
        self.stored: FailureListener | None = None  # told of every dead letter (error.dead_letter)

    async def declare(self) -> None:
        """Declare the exchange and the queue (durable), on the link's publishing channel."""
        channel = self._link.channel
        assert channel is not None
        self._exchange = await channel.declare_exchange(self.name, aio_pika.ExchangeType.FANOUT, durable=True)
        queue = await channel.declare_queue(self.name, durable=True)
        await queue.bind(self._exchange)

    async def store(
        self,
        subscriber: str,
        queue: str,
        reason: DeadLetterReason,
        error: str,
        envelope: Envelope | None = None,
        raw: bytes | None = None,
    ) -> None:
        """Publish a dead letter of ``subscriber``'s ``queue`` and wait for the broker's confirm
        (raises CONNECTION_ERRORS)."""
        if self._exchange is None:
            raise self._link.unreachable()
        headers: dict[str, Any] = {
            "subscriber": subscriber,
            "queue": queue,
            "reason": reason.value,
            "error": error,
            "time": repr(time.time()),
        }
        body = b""
        if envelope is not None:
            body = self._signer.seal(_undelivered(envelope), self.name)
        if raw is not None:
            headers["raw"] = raw.decode(errors="replace")[:_RAW_LIMIT]
        message = aio_pika.Message(
            body, headers=headers, message_id=new_id(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        await self._exchange.publish(message, "", mandatory=False, timeout=self._link.settings.publish_timeout)
        self._counters.of(subscriber).dead_lettered += 1
        if self.stored is not None:
            self.stored(set_aside(subscriber, reason.value, error, envelope))

    async def letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The stored dead letters, oldest first (at most ``limit``, the newest ones)."""
        letters: list[DeadLetter] = []
        async with self._borrowed() as queue:
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                letters.append(self._letter(message))
        return letters if limit is None else letters[-limit:] if limit > 0 else []

    async def replay(self, dead_letter_id: str, publish: Replay) -> None:
        """Hand one dead letter, with the queue it came from, to ``publish``, then remove it.

        Raises DeadLetterNotFoundError for an id not stored, ReplayError for a letter that is
        not a signed envelope of this bus (it stays stored, as does one whose publish failed).
        """
        async with self._borrowed() as queue:
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                if message.message_id != dead_letter_id:
                    continue
                letter = self._letter(message)
                if letter.envelope is None:
                    raise ReplayError(
                        f"dead letter {dead_letter_id} ({letter.reason.value}) is not a signed "
                        "envelope of this bus; it cannot be replayed"
                    )
                await publish(letter, str((message.headers or {}).get("queue", "")))
                await message.ack()
                return
        raise DeadLetterNotFoundError(f"no dead letter with id {dead_letter_id!r} in queue '{self.name}'")

    def _borrowed(self) -> _Borrowed:
        return _Borrowed(self._link, self.name)

    def _letter(self, message: AbstractIncomingMessage) -> DeadLetter:
        headers: Mapping[str, Any] = message.headers or {}
        envelope = self._signer.open_value(message.body, self.name)[0] if message.body else None
        try:
            reason = DeadLetterReason(str(headers.get("reason", "")))
        except ValueError:
            reason = DeadLetterReason.UNDECODABLE
        raw = headers.get("raw")
        return DeadLetter(
            message.message_id or "",
            str(headers.get("subscriber", "")),
            reason,
            str(headers.get("error", "")),
            envelope,
            float(str(headers.get("time", "0")) or 0),
            {"body": str(raw)} if raw is not None else None,
        )


class _Borrowed:
    """A channel of its own holding the dead-letter queue; closing it returns what was taken."""

    def __init__(self, link: Link, name: str) -> None:
        self._link, self._name = link, name
        self._channel: Any = None

    async def __aenter__(self) -> AbstractQueue:
        link = self._link
        if link.connection is None or not link.connected:
            raise link.unreachable()
        try:
            self._channel = await link.connection.channel(publisher_confirms=False)
            queue: AbstractQueue = await self._channel.declare_queue(self._name, durable=True)
            return queue
        except CONNECTION_ERRORS as exc:
            raise link.unreachable(exc) from exc

    async def __aexit__(self, *exc: object) -> None:
        if self._channel is not None:
            await self._channel.close()  # the unacknowledged ones go back, in order


def _undelivered(envelope: Envelope) -> Envelope:
    """The event without this bus's delivery bookkeeping."""
    metadata = {k: v for k, v in envelope.metadata.items() if k not in _DELIVERY_KEYS}
    return envelope.replace(metadata=MappingProxyType(metadata))
