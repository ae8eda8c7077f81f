"""One bus's link to RabbitMQ: the robust connection, the names it uses, what losing it means.

aio-pika's robust connection reconnects by itself and restores channels, exchanges, queues,
bindings and consumers. Its wait between attempts is a fixed ``reconnect_interval``; ours
grows with the time the broker has been out of reach (``reconnect_min`` doubling up to
``reconnect_max``), so a short blip costs a tenth of a second and a long outage no busy loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.exceptions import AMQPError
from aio_pika.robust_connection import RobustConnection
from aiormq.exceptions import ChannelInvalidStateError
from loguru import logger

from framework.events.errors import BusConnectionError
from framework.events.settings import RabbitSettings, safe_url

CONNECTION_ERRORS = (AMQPError, ChannelInvalidStateError, ConnectionError, OSError, TimeoutError)
"""Errors that mean the broker is out of reach for now (or the channel with it is gone)."""
log = logger.bind(component="event_bus")
_MAX_NAME = 255  # bytes of an AMQP queue name
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.:@#,/+ -]")  # what aiormq (pamqp) refuses in a queue name


class BackoffConnection(RobustConnection):
    """A robust connection whose reconnect wait doubles while the broker stays away."""

    reconnect_min, reconnect_max = 0.1, 5.0
    _lost_at: float | None = None

    @property
    def reconnect_interval(self) -> float:
        """The wait before the next attempt: the time since the link was lost, within bounds.

        Sleeping as long as the outage has lasted doubles the wait from one attempt to the next
        however often aio-pika reads it (it reads it for its log lines too)."""
        lost = self._lost_at
        if lost is None:
            return self.reconnect_min
        since = asyncio.get_running_loop().time() - lost
        return max(self.reconnect_min, min(self.reconnect_max, since))

    @reconnect_interval.setter
    def reconnect_interval(self, value: Any) -> None:
        """aio-pika sets the URL's fixed interval: the bounds given to ``connect`` rule instead."""

    def mark_lost(self, *_: Any) -> None:
        """Close callback: the outage starts now (unless it already had)."""
        if self._lost_at is None:
            self._lost_at = asyncio.get_running_loop().time()

    def mark_restored(self, *_: Any) -> None:
        """Reconnect callback: the next outage starts from the shortest wait again."""
        self._lost_at = None


class Names:
    """The exchanges and queues of one bus: ``<exchange>`` and ``<exchange>.@...`` of its own."""

    __slots__ = ("exchange", "dead", "replies")

    def __init__(self, exchange: str, node: str) -> None:
        self.exchange = exchange
        # '@' cannot occur in a subscriber's queue name part (a topic or pattern), so no clash.
        self.dead = f"{exchange}.@dead"  # the dead-letter exchange (fanout) and its queue
        self.replies = self.replies_of(node)

    def address(self, topic: str) -> str:
        """What an event of ``topic`` is signed for: the exchange and the routing key."""
        return f"{self.exchange}/{topic}"

    def replies_of(self, node: str) -> str:
        """The reply queue of the bus instance ``node``."""
        return f"{self.exchange}.@reply.{node}"

    def queue(self, subscriber: str, pattern: str) -> str:
        """The durable queue of one subscription, shared by every process running it.

        ``<exchange>.<subscriber>.<pattern>``, within what AMQP clients accept in a name:
        ``*`` is written ``+`` and ``**`` ``#``; other characters outside that set (a default
        subscriber such as ``module.<lambda>``) become ``_``, and a digest of the exact
        subscription is appended whenever the name had to change, so names never collide.
        """
        exact = f"{self.exchange}.{subscriber}.{pattern}"
        name = f"{self.exchange}.{subscriber}.{binding_key(pattern).replace('*', '+')}"
        name = _UNSAFE.sub("_", name)
        if len(name.encode()) <= _MAX_NAME and name == exact.replace("**", "#").replace("*", "+"):
            return name
        digest = hashlib.sha256(exact.encode()).hexdigest()[:16]
        return f"{name[: _MAX_NAME - 17]},{digest}"


def binding_key(pattern: str) -> str:
    """A pattern as an AMQP topic binding key: ``*`` is one word in both, ``**`` is ``#``.

    Our ``**`` and AMQP's ``#`` both match zero or more segments, anywhere in the pattern, and
    our topics have no empty segments, so the broker matches exactly as ``topics.matches``.
    """
    return ".".join("#" if segment == "**" else segment for segment in pattern.split("."))


class Link:
    """The connection (between ``open`` and ``close``), the publishing channel and exchange."""

    def __init__(self, settings: RabbitSettings, node: str) -> None:
        self.settings = settings
        self.names = Names(settings.exchange, node)
        self.connection: AbstractRobustConnection | None = None
        self.channel: AbstractChannel | None = None  # publishes, with publisher confirms
        self.exchange: AbstractExchange | None = None
        self.closing = False

    @property
    def connected(self) -> bool:
        """Whether the broker is reachable now: the link is open, not reconnecting, and its
        publishing channel is back (aio-pika restores channels just after the connection)."""
        connection, channel = self.connection, self.channel
        return (
            connection is not None
            and not connection.is_closed
            and connection.connected.is_set()
            and channel is not None
            and not channel.is_closed
        )

    def unreachable(self, exc: BaseException | None = None) -> BusConnectionError:
        """The error to raise when the broker cannot be reached."""
        why = f": {type(exc).__name__}: {exc}" if exc is not None else " (reconnecting)"
        return BusConnectionError(f"RabbitMQ at {self.settings.address} unreachable{why}")

    async def open(self) -> None:
        """Connect, declare the exchanges; BusConnectionError (URL without password) if it fails."""
        settings = self.settings
        try:
            connection = await aio_pika.connect_robust(
                settings.url,
                timeout=settings.connect_timeout,
                connection_class=BackoffConnection,
                client_properties={"connection_name": f"event-bus:{self.names.exchange}"},
            )
        except CONNECTION_ERRORS as exc:
            raise BusConnectionError(
                f"RabbitMQ at {settings.address} unreachable: {type(exc).__name__}: {exc} "
                f"(event_bus.rabbitmq.url = {safe_url(settings.url)})"
            ) from exc
        assert isinstance(connection, BackoffConnection)  # the class asked for above
        # Read only between reconnect attempts, so set once connected: per bus, not per class.
        connection.reconnect_min, connection.reconnect_max = settings.reconnect_min, settings.reconnect_max
        connection.close_callbacks.add(connection.mark_lost)
        connection.reconnect_callbacks.add(connection.mark_restored)
        self.connection = connection
        self.channel = await connection.channel(publisher_confirms=True)
        self.exchange = await self.channel.declare_exchange(
            self.names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def new_channel(self, prefetch: int) -> AbstractChannel:
        """A channel of its own (a subscription's: its prefetch and delivery tags are its own)."""
        if self.connection is None:
            raise self.unreachable()
        channel = await self.connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=prefetch)
        return channel

    async def close(self) -> None:
        """Close the connection (unacknowledged messages go back to their queues)."""
        self.closing = True
        if self.connection is not None:
            connection, self.connection, self.channel, self.exchange = self.connection, None, None, None
            await quietly(connection.close(), self.settings.connect_timeout)


async def quietly(operation: Awaitable[Any], seconds: float) -> None:
    """Await a shutdown step for at most ``seconds``; a lost broker only makes it unnecessary."""
    try:
        async with asyncio.timeout(seconds):
            await operation
    except CONNECTION_ERRORS as exc:  # TimeoutError included
        log.debug(f"skipped a shutdown step, the broker is out of reach: {exc}")

