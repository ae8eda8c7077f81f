"""The event bus contract and a component's scoped view of it.

Backends (``memory``, ``redis``) implement ``EventBus``; the records it hands out live in
``records``, and ``factory.create_bus`` builds the backend the ``event_bus`` section names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from framework.events.envelope import DEFAULT_PRIORITY, Envelope
from framework.events.errors import TopicPermissionError
from framework.events.failures import FailureListener
from framework.events.keys import Publication
from framework.events.payloads import ComponentPayloads
from framework.events.records import (
    BusStatistics,
    DeadLetter,
    Filter,
    Handler,
    PartitionsHook,
    PartitionStatus,
    Subscription,
    SubscriptionInfo,
)
from framework.events.settings import BusSettings, Overflow
from framework.events.topics import covers, matches, validate_pattern
from framework.events.typed import delivering

# Subscription options a component's methods of the same name fill in (see ScopedBus).
PARTITION_HOOKS = ("on_partitions_assigned", "on_partitions_revoked")

if TYPE_CHECKING:
    from framework.config.schema import Schema


class EventBus(Protocol):
    """What every backend offers; see ``MemoryBus`` for the semantics."""

    failure_listener: FailureListener | None  # told of failed handler attempts and dead letters

    async def start(self) -> None: ...

    async def stop(self, timeout: float | None = None) -> None: ...

    async def health(self) -> Mapping[str, Any]: ...

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
        key: str | None = None,
        schema_version: int | None = None,
    ) -> Envelope: ...

    async def publish_many(
        self,
        events: Iterable[Publication],
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
        on_partitions_assigned: PartitionsHook | None = None,
        on_partitions_revoked: PartitionsHook | None = None,
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
        owner: Callable[[], Any] | None = None,
        payloads: ComponentPayloads | None = None,
    ) -> ScopedBus: ...

    def register_schema(self, event_type: str, schema: Schema) -> None: ...

    def reconfigure(self, settings: BusSettings) -> None: ...

    def subscriptions(self) -> list[SubscriptionInfo]: ...

    def statistics(self) -> BusStatistics: ...

    async def partitions(self) -> list[PartitionStatus]: ...

    def history(self, limit: int | None = None) -> list[Envelope]: ...

    def watch(self, watcher: Callable[[Envelope], None]) -> Callable[[], None]: ...

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]: ...

    async def replay_dead_letter(self, dead_letter_id: str) -> None: ...

    async def replay_dead_letters(self) -> int: ...


class ScopedBus:
    """A component's view of the bus: stamps ``source`` and keeps it to its declared topics.

    ``publishes`` / ``subscribes`` are patterns; None means unrestricted, ``[]`` means none.
    ``owner`` returns the component instance: the subscriptions it makes get its
    ``on_partitions_assigned`` / ``on_partitions_revoked`` methods, when it has them.
    ``payloads``: its declared payloads (``framework.events.payloads``): what it publishes is
    checked against them, and what it receives is upcast and typed as it requires.
    """

    def __init__(
        self,
        bus: EventBus,
        component: str,
        publishes: Sequence[str] | None = None,
        subscribes: Sequence[str] | None = None,
        owner: Callable[[], Any] | None = None,
        payloads: ComponentPayloads | None = None,
    ) -> None:
        for pattern in (*(publishes or ()), *(subscribes or ())):
            validate_pattern(pattern)
        self.bus, self.component = bus, component
        self.publishes = None if publishes is None else tuple(publishes)
        self.subscribes = None if subscribes is None else tuple(subscribes)
        self.owner = owner
        self.payloads = payloads
        # None unless something is declared: publishing then costs one attribute test more.
        self._declared = payloads.publishes if payloads is not None and payloads.publishes else None

    async def publish(self, topic: str, data: Any = None, **options: Any) -> Envelope:
        """``EventBus.publish`` with ``source`` set to the component, if it declared the topic;
        data of a topic with a declared payload is checked, and stamped with its version."""
        self._check_publish(topic)
        if self._declared is not None:
            data = self._checked(topic, data, options)
        return await self.bus.publish(topic, data, source=self.component, **options)

    def _checked(self, topic: str, data: Any, options: dict[str, Any]) -> Any:
        declared = self._declared.for_topic(topic) if self._declared is not None else None
        if declared is None:
            return data
        if declared.version != 1:
            options["schema_version"] = declared.version
        return declared.check(data)

    async def publish_many(self, events: Iterable[Publication], **options: Any) -> list[Envelope]:
        """``EventBus.publish_many`` from the component, if it declared every topic."""
        batch = list(events)
        for topic, *_ in batch:
            self._check_publish(topic)
        if self._declared is not None:  # each checked; each version stamped: one publish each
            return [await self.publish(topic, data, key=key[0] if key else None, **options) for topic, data, *key in batch]
        return await self.bus.publish_many(batch, source=self.component, **options)

    async def subscribe(self, pattern: str, handler: Handler, **options: Any) -> Subscription:
        """``EventBus.subscribe`` (subscriber defaults to the component) within its declaration."""
        if self.subscribes is not None and not any(covers(p, pattern) for p in self.subscribes):
            raise self._refusal("subscribe to", pattern, "subscribes", self.subscribes)
        options.setdefault("subscriber", self.component)
        handler = delivering(handler, self.payloads.requires if self.payloads is not None else None)
        instance = self.owner() if self.owner is not None else None
        for hook in PARTITION_HOOKS:  # the component keeps state per key: tell it what it owns
            method = getattr(instance, hook, None)
            if callable(method):
                options.setdefault(hook, method)
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
