"""Replies to ``request`` across processes: a queue per bus instance, consumed once it asks.

A reply goes through the default exchange straight to the queue ``<exchange>.@reply.<node>``
of the instance that sent the request, signed for that queue. The queue is exclusive to the
requester's connection: the broker deletes it when the requester stops or dies. It is declared,
and consumed, before the instance's first request is published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from loguru import logger

from framework.events.envelope import Envelope
from framework.events.rabbitmq.connection import CONNECTION_ERRORS, Link
from framework.events.signing import Signer

log = logger.bind(component="event_bus")


class ReplyChannel:
    """Sends replies to other instances and hands the ones for this instance to ``resolve``."""

    def __init__(self, link: Link, signer: Signer, resolve: Callable[[Envelope], None]) -> None:
        self._link, self._signer, self._resolve = link, signer, resolve
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def listen(self) -> None:
        """Declare and consume this instance's reply queue, unless already done."""
        async with self._lock:
            if self._channel is not None:
                return
            link = self._link
            try:
                channel = await link.new_channel(prefetch=100)
                queue = await channel.declare_queue(link.names.replies, exclusive=True, auto_delete=True)
                await queue.consume(self._take, no_ack=True)
            except CONNECTION_ERRORS as exc:
                raise link.unreachable(exc) from exc
            self._channel = channel

    async def send(self, reply_to: str, response: Envelope) -> None:
        """Publish a reply to the queue of the instance ``reply_to``."""
        link = self._link
        queue = link.names.replies_of(reply_to)
        message = aio_pika.Message(self._signer.seal(response, queue))
        if link.channel is None or not link.connected:
            raise link.unreachable()
        try:
            await link.channel.default_exchange.publish(
                message, queue, mandatory=False, timeout=link.settings.publish_timeout
            )
        except CONNECTION_ERRORS as exc:
            raise link.unreachable(exc) from exc

    async def _take(self, message: AbstractIncomingMessage) -> None:
        envelope, _, error = self._signer.open_value(message.body, self._link.names.replies)
        if envelope is None:
            log.warning(f"ignored a reply that is not a signed envelope: {error}")
        else:
            self._resolve(envelope)
