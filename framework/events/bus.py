"""The event bus contract, the records it hands out, a component's scoped view, and the factory.

Backends (``memory``, ``redis``) implement ``EventBus``; ``create_bus`` builds the one the
``event_bus`` config section names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from framework.events.envelope import DEFAULT_PRIORITY, Envelope
from framework.events.errors import MissingSigningKeyError, TopicPermissionError
from framework.events.settings import Backend, BusSettings, Overflow
from framework.events.topics import covers, matches, validate_pattern

if TYPE_CHECKING:
    from framework.config.schema import Schema

Handler = Callable[[Envelope], Awaitable[None] | None]
"""A subscriber: sync or async, given each matching envelope."""
Filter = Callable[[Envelope], bool]
"""A predicate run before delivery: False skips the event for that subscription."""


class DeadLetterReason(StrEnum):
    """Why an event was set aside instead of delivered."""

    HANDLER_FAILED = "handler_failed"  # raised or timed out on every attempt
    QUEUE_FULL = "queue_full"  # overflow policy dead_letter
    FILTER_FAILED = "filter_failed"  # the subscription's filter raised
    MAX_DELIVERIES = "max_deliveries"  # redis: redelivered too often (consumers died)
    BAD_SIGNATURE = "bad_signature"  # redis: HMAC does not match (forged or wrong key)
    UNSIGNED = "unsigned"  # redis: entry has no signature
    UNDECODABLE = "undecodable"  # redis: not an envelope (a foreign producer)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event (or a foreign entry) that was not delivered to one subscriber, and why."""

    id: str
    subscriber: str
    reason: DeadLetterReason
    error: str
    envelope: Envelope | None  # None when the entry was not a valid, signed envelope
    time: float
    raw: Mapping[str, str] | None = None  # a foreign entry's fields (truncated), for diagnosis

    @property
    def replayable(self) -> bool:
        """Whether ``replay_dead_letter`` can deliver it again (foreign entries cannot)."""
        return self.envelope is not None


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """One live subscription, as ``subscriptions()`` reports it."""

    pattern: str
    subscriber: str
    queue_depth: int
    overflow: Overflow


@dataclass(frozen=True, slots=True)
class BusStatistics:
    """Counters since start, and current queue depths per subscriber."""

    published: int = 0
    delivered: int = 0
    failed: int = 0  # failed handler attempts, timeouts included
    dead_lettered: int = 0
    dropped: int = 0  # overflow drop_oldest, cancelled or stopped with events queued
    queue_depths: Mapping[str, int] = field(default_factory=dict)


class Subscription:
    """The undo handle ``subscribe`` returns: ``sub.cancel()`` or ``sub()`` unsubscribes."""

    __slots__ = ("pattern", "subscriber", "_undo", "_active")

    def __init__(self, pattern: str, subscriber: str, undo: Callable[[], None]) -> None:
        self.pattern, self.subscriber = pattern, subscriber
        self._undo, self._active = undo, True

    @property
    def active(self) -> bool:
        """False once cancelled (or the bus stopped)."""
        return self._active

    def cancel(self) -> None:
        """Stop delivering; events still queued for this subscription are dropped. Idempotent."""
        if self._active:
            self._active = False
            self._undo()

    __call__ = cancel

    def __repr__(self) -> str:
        state = "active" if self._active else "cancelled"
        return f"Subscription({self.pattern!r}, subscriber={self.subscriber!r}, {state})"


class EventBus(Protocol):
    """What every backend offers; see ``MemoryBus`` for the semantics."""

    async def start(self) -> None: ...

    async def stop(self, timeout: float | None = None) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

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
    ) -> Envelope: ...

    async def publish_many(
        self,
        events: Iterable[tuple[str, Any]],
        *,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Envelope]: ...

    async def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        subscriber: str | None = None,
        filter: Filter | None = None,
        queue_size: int | None = None,
        overflow: Overflow | str | None = None,
        max_retries: int | None = None,
        retry_backoff: float | None = None,
        handler_timeout: float | None = None,
    ) -> Subscription: ...

    async def request(
        self,
        topic: str,
        data: Any = None,
        *,
        timeout: float = 5.0,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Envelope: ...

    async def reply(
        self, request: Envelope, data: Any = None, *, source: str | None = None
    ) -> Envelope: ...

    def scoped(
        self,
        component: str,
        *,
        publishes: Sequence[str] | None = None,
        subscribes: Sequence[str] | None = None,
    ) -> ScopedBus: ...

    def register_schema(self, event_type: str, schema: Schema) -> None: ...

    def reconfigure(self, settings: BusSettings) -> None: ...

    def subscriptions(self) -> list[SubscriptionInfo]: ...

    def statistics(self) -> BusStatistics: ...

    def history(self, limit: int | None = None) -> list[Envelope]: ...

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]: ...

    async def replay_dead_letter(self, dead_letter_id: str) -> None: ...

    async def replay_dead_letters(self) -> int: ...


class ScopedBus:
    """A component's view of the bus: stamps ``source`` and keeps it to its declared topics.

    ``publishes`` / ``subscribes`` are patterns; None means unrestricted, ``[]`` means none.
    """

    def __init__(
        self,
        bus: EventBus,
        component: str,
        publishes: Sequence[str] | None = None,
        subscribes: Sequence[str] | None = None,
    ) -> None:
        for pattern in (*(publishes or ()), *(subscribes or ())):
            validate_pattern(pattern)
        self.bus, self.component = bus, component
        self.publishes = None if publishes is None else tuple(publishes)
        self.subscribes = None if subscribes is None else tuple(subscribes)

    async def publish(self, topic: str, data: Any = None, **options: Any) -> Envelope:
        """``EventBus.publish`` with ``source`` set to the component, if it declared the topic."""
        self._check_publish(topic)
        return await self.bus.publish(topic, data, source=self.component, **options)

    async def publish_many(self, events: Iterable[tuple[str, Any]], **options: Any) -> list[Envelope]:
        """``EventBus.publish_many`` from the component, if it declared every topic."""
        pairs = list(events)
        for topic, _ in pairs:
            self._check_publish(topic)
        return await self.bus.publish_many(pairs, source=self.component, **options)

    async def subscribe(self, pattern: str, handler: Handler, **options: Any) -> Subscription:
        """``EventBus.subscribe`` (subscriber defaults to the component) within its declaration."""
        if self.subscribes is not None and not any(covers(p, pattern) for p in self.subscribes):
            raise self._refusal("subscribe to", pattern, "subscribes", self.subscribes)
        options.setdefault("subscriber", self.component)
        return await self.bus.subscribe(pattern, handler, **options)

    async def request(self, topic: str, data: Any = None, **options: Any) -> Envelope:
        """``EventBus.request`` from the component, if it declared the topic."""
        self._check_publish(topic)
        return await self.bus.request(topic, data, source=self.component, **options)

    async def reply(self, request: Envelope, data: Any = None) -> Envelope:
        """``EventBus.reply`` from the component (a reply needs no declaration)."""
        return await self.bus.reply(request, data, source=self.component)

    def _check_publish(self, topic: str) -> None:
        if self.publishes is not None and not any(matches(p, topic) for p in self.publishes):
            raise self._refusal("publish", topic, "publishes", self.publishes)

    def _refusal(
        self, verb: str, topic: str, kind: str, declared: tuple[str, ...]
    ) -> TopicPermissionError:
        return TopicPermissionError(
            f"component '{self.component}' may not {verb} '{topic}': it declares "
            f"{kind}={list(declared)}; add a matching pattern to its {kind} list"
        )

    def __repr__(self) -> str:
        return (
            f"ScopedBus({self.component!r}, publishes={self.publishes}, "
            f"subscribes={self.subscribes})"
        )


def create_bus(
    settings: Mapping[str, Any] | BusSettings | None = None,
    *,
    schemas: Mapping[str, Schema] | None = None,
) -> EventBus:
    """Build the backend an ``event_bus`` section (raw or normalized) names; start it yourself.

    ``schemas`` maps event types to Cerberus payload schemas checked at publish.
    """
    if not isinstance(settings, BusSettings):
        settings = BusSettings.from_config(settings)
    if settings.backend is Backend.REDIS:
        if not settings.redis.signing_key:
            raise MissingSigningKeyError(
                "event_bus.redis.signing_key is required when event_bus.backend is 'redis': "
                "every event is signed with HMAC-SHA256; set a random string of 16+ characters "
                "(from the environment, not the YAML)"
            )
        from framework.events.redis import RedisBus  # imported late: redis is only needed here

        return RedisBus(settings, schemas=schemas)
    from framework.events.memory import MemoryBus

    return MemoryBus(settings, schemas=schemas)
