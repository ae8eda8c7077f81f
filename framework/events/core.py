"""The bus core: what every backend shares, whatever carries the events.

``BusCore`` runs the lifecycle (start, drain, stop), subscriptions with their ``Worker``,
history, statistics, payload schemas, request/reply and scoped views. A backend subclasses it
and supplies routing (the ``_attach``/``publish``/dead-letter hooks), so the two backends
cannot drift apart in how they deliver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from types import MappingProxyType, TracebackType
from typing import Any, Self

from framework.config.schema import Schema
from framework.events.bus import ScopedBus
from framework.events.counters import Counters
from framework.events.delivery import Options, Worker
from framework.events.envelope import (
    DEFAULT_PRIORITY,
    EMPTY,
    Envelope,
    check_priority,
    check_schema_version,
    new_id,
)
from framework.events.errors import (
    BusClosedError,
    DeadLetterNotFoundError,
    ReplayError,
    RequestTimeoutError,
)
from framework.events.failures import Failure, FailureListener, notify
from framework.events.keys import Publication, check_key, key_in_data
from framework.events.payloads import ComponentPayloads, Declared
from framework.events.recent import RecentEvents
from framework.events.records import (
    BusStatistics,
    DeadLetter,
    DeadLetterReason,
    Filter,
    Handler,
    PartitionsHook,
    PartitionStatus,
    Subscription,
    SubscriptionInfo,
)
from framework.events.settings import BusSettings, Overflow
from framework.events.topics import validate_pattern, validate_topic


class _State(Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


_RUNNING = _State.RUNNING


class BusCore:
    """What every backend shares; subclasses route published events to ``Worker`` mailboxes."""

    # Told of every failed handler attempt and every dead letter (the app publishes error events).
    failure_listener: FailureListener | None = None

    def __init__(
        self, settings: BusSettings | None = None, *, schemas: Mapping[str, Schema] | None = None
    ) -> None:
        self._settings = settings or BusSettings()
        self._state = _State.NEW
        self._fast = False  # running, no payload schemas, no check_json, no key fields: a shortcut
        # Topics whose events are keyed by a field of their data (event_bus.topics).
        self._key_fields = {topic: t.key for topic, t in self._settings.topics.items() if t.key}
        self._workers: list[Worker] = []
        self._counters = Counters()  # per subscriber
        self._published = 0  # on the bus, not in Counters: one attribute hop less per publish
        self._history = RecentEvents(self._settings.history_size)
        self._schemas: dict[str, Declared] = {}
        self._replies: dict[str, asyncio.Future[Envelope]] = {}
        self.node = new_id()  # addresses replies to this bus instance
        for event_type, schema in (schemas or {}).items():
            self.register_schema(event_type, schema)

    # lifecycle

    @property
    def settings(self) -> BusSettings:
        """The settings the bus runs with."""
        return self._settings

    @property
    def running(self) -> bool:
        """Between a successful ``start`` and ``stop``."""
        return self._state is _State.RUNNING

    async def health(self) -> dict[str, Any]:
        """The bus as a health check: healthy while running (a backend adds its server's answer)."""
        if self._state is not _State.RUNNING:
            return {"status": "unhealthy", "error": f"the event bus is {self._state.value}"}
        return {"status": "healthy"}

    async def start(self) -> None:
        """Get ready to publish and deliver. Idempotent while running; a stopped bus is final."""
        if self._state is _State.RUNNING:
            return
        if self._state is not _State.NEW:
            raise BusClosedError(f"{self!r} was stopped; build a new bus to start again")
        await self._open()
        self._set_state(_State.RUNNING)

    async def stop(self, timeout: float | None = None) -> None:
        """Refuse new events, deliver what is queued (for up to ``timeout`` s), then release all.

        ``timeout`` defaults to ``shutdown_timeout``; events still queued then are dropped.
        """
        if self._state is not _State.RUNNING:
            self._set_state(_State.STOPPED)
            return
        self._set_state(_State.STOPPING)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._settings.shutdown_timeout if timeout is None else timeout)
        try:
            await self._close_intake(deadline)
            await self._drain(deadline)
        finally:
            for future in self._replies.values():
                future.cancel()
            await self._close(deadline)
            self._set_state(_State.STOPPED)

    def _set_state(self, state: _State) -> None:
        self._state = state
        self._fast = (
            state is _RUNNING and not self._schemas and not self._settings.check_json and not self._key_fields
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _drain(self, deadline: float) -> None:
        workers = list(self._workers)
        for worker in workers:
            worker.close()
        tasks = [w.task for w in workers if w.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        for worker in workers:
            worker.counters.dropped += worker.abort()
            if worker.handle is not None:
                worker.handle._active = False
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _open(self) -> None:
        """Backend hook: connect."""

    async def _close_intake(self, deadline: float) -> None:
        """Backend hook: stop taking new events in (before queued ones are drained)."""

    async def _close(self, deadline: float) -> None:
        """Backend hook: release connections (after draining)."""

    def _require_running(self, action: str) -> None:
        if self._state is not _State.RUNNING:
            raise BusClosedError(
                f"cannot {action}: {self!r} is {self._state.value}; "
                "await bus.start() (or use 'async with bus') first, and do not use it after stop()"
            )

    # subscribing

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
    ) -> Subscription:
        """Deliver events whose topic matches ``pattern`` to ``handler``; return the undo handle.

        ``subscriber`` names the receiving component (default: the handler's qualified name);
        the delivery options override the bus settings for this subscription.
        ``on_partitions_assigned`` / ``on_partitions_revoked`` (sync or async, given a
        frozenset of ``Partition``) are called around every rebalance of a keyed topic the
        pattern matches, on Redis; the in-memory bus has no partitions and never calls them.
        """
        self._require_running("subscribe")
        validate_pattern(pattern)
        if not callable(handler):
            raise TypeError(f"handler for '{pattern}' must be callable, got {handler!r}")
        if filter is not None and not callable(filter):
            raise TypeError(f"filter for '{pattern}' must be a callable predicate, got {filter!r}")
        hooks = (on_partitions_assigned, on_partitions_revoked)
        if any(hook is not None and not callable(hook) for hook in hooks):
            raise TypeError(f"partition hooks for '{pattern}' must be callable, got {hooks!r}")
        explicit = {
            "queue_size": queue_size,
            "overflow": overflow,
            "max_retries": max_retries,
            "retry_backoff": retry_backoff,
            "handler_timeout": handler_timeout,
        }
        name = subscriber or _qualified_name(handler)
        worker = Worker(
            pattern,
            name,
            handler,
            filter,
            Options(explicit, self._settings),
            self._counters.of(name),
            self._dead_letter,
        )
        worker.partition_hooks = hooks
        worker.failures = self._failed
        await self._attach(worker)
        worker.handle = Subscription(pattern, name, lambda: self._detach(worker))
        self._workers.append(worker)
        worker.start()
        return worker.handle

    async def _attach(self, worker: Worker) -> None:
        """Backend hook: start routing matching events into ``worker.mailbox``.

        May set ``worker.on_success``, called with each envelope a handler took.
        """
        raise NotImplementedError

    def _detach(self, worker: Worker) -> None:
        """Stop routing to a worker and end it, dropping what it still had queued."""
        if worker in self._workers:
            self._workers.remove(worker)
        worker.counters.dropped += worker.abort()

    # publishing helpers

    def register_schema(self, event_type: str, schema: Schema) -> None:
        """Check the data of every ``event_type`` event against a Cerberus schema at publish,
        whoever publishes it (a component's own declarations: ``framework.events.payloads``)."""
        validate_topic(event_type)
        self._schemas[event_type] = Declared(event_type, "", f"the payload schema of event '{event_type}'", schema)
        self._set_state(self._state)

    def _checked_data(self, topic: str, data: Any) -> Any:
        declared = self._schemas.get(topic)
        return data if declared is None else declared.check(data)

    def _envelope(
        self,
        topic: str,
        data: Any,
        priority: int,
        source: str | None,
        correlation_id: str | None,
        causation_id: str | None,
        metadata: Mapping[str, Any] | None,
        key: str | None = None,
        schema_version: int | None = None,
    ) -> Envelope:
        """A checked envelope for the general (non hot) publish path."""
        self._require_running(f"publish '{topic}'")
        validate_topic(topic)
        if priority != DEFAULT_PRIORITY:
            check_priority(priority)
        if key is not None:
            check_key(key)
        elif self._key_fields and topic in self._key_fields:
            key = key_in_data(topic, data, self._key_fields[topic])
        if self._schemas:
            data = self._checked_data(topic, data)
        return Envelope(
            topic,
            data,
            source=source,
            priority=priority,
            correlation_id=correlation_id,
            causation_id=causation_id,
            metadata=MappingProxyType(dict(metadata)) if metadata else EMPTY,
            key=key,
            schema_version=check_schema_version(schema_version),
        )

    # request / reply

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
        """Backend hook: see ``MemoryBus.publish``."""
        raise NotImplementedError

    async def publish_many(
        self,
        events: Iterable[Publication],
        *,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Envelope]:
        """Publish ``(topic, data)`` pairs, or ``(topic, data, key)`` triples, in order; all are
        checked before any is sent. A pair on a topic that declares its key field is keyed by it."""
        envelopes = [
            self._envelope(topic, data, priority, source, None, None, metadata, key[0] if key else None)
            for topic, data, *key in events
        ]
        if envelopes:
            await self._publish_checked(envelopes)
        return envelopes

    async def _publish_checked(self, envelopes: list[Envelope]) -> None:
        """Backend hook: deliver envelopes that passed every check, in order."""
        raise NotImplementedError

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
        """Publish an event and return the first reply to it; RequestTimeoutError after timeout.

        A subscriber answers with ``await bus.reply(request_envelope, data)``.
        """
        correlation_id = new_id()
        future: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._replies[correlation_id] = future
        try:
            await self.publish(
                topic,
                data,
                priority=priority,
                source=source,
                correlation_id=correlation_id,
                metadata={**(metadata or {}), "reply_to": self.node},
            )
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                raise RequestTimeoutError(
                    f"no reply to request '{topic}' (correlation id {correlation_id}) within "
                    f"{timeout} s; does a subscriber of '{topic}' call bus.reply()?"
                ) from None
        finally:
            self._replies.pop(correlation_id, None)

    async def reply(self, request: Envelope, data: Any = None, *, source: str | None = None) -> Envelope:
        """Answer an envelope that ``request`` sent; the reply's type is ``<type>.reply``."""
        reply_to = request.metadata.get("reply_to")
        if not isinstance(reply_to, str):
            raise ValueError(
                f"event '{request.type}' (id {request.id}) was not sent by bus.request(); "
                "it has no reply_to address to answer"
            )
        response = Envelope(
            f"{request.type}.reply",
            data,
            source=source,
            priority=request.priority,
            correlation_id=request.correlation_id or request.id,
            causation_id=request.id,
        )
        await self._send_reply(reply_to, response)
        return response

    async def _send_reply(self, reply_to: str, response: Envelope) -> None:
        """Backend hook: get a reply to the bus instance ``reply_to``."""
        self._resolve_reply(response)

    def _resolve_reply(self, response: Envelope) -> None:
        future = self._replies.get(response.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(response)

    def scoped(
        self,
        component: str,
        *,
        publishes: Sequence[str] | None = None,
        subscribes: Sequence[str] | None = None,
        owner: Callable[[], Any] | None = None,
        payloads: ComponentPayloads | None = None,
    ) -> ScopedBus:
        """A view for one component: stamps ``source``, refuses undeclared topics, and hands its
        partition hooks (``owner()``'s, if it has them) to the subscriptions it makes; checks
        what it publishes against its declared ``payloads``."""
        return ScopedBus(self, component, publishes, subscribes, owner, payloads)

    # settings

    def reconfigure(self, settings: BusSettings) -> None:
        """Take new settings while running; only keys with ``reload: live`` take effect."""
        self._settings = settings
        self._set_state(self._state)
        for worker in self._workers:
            queue_size, overflow = worker.options.queue_size, worker.options.overflow
            worker.options.apply(settings)
            # Queue size and overflow are 'restart' keys: a running worker keeps its own.
            worker.options.queue_size, worker.options.overflow = queue_size, overflow

    # inspection

    def subscriptions(self) -> list[SubscriptionInfo]:
        """Every live subscription: pattern, subscriber, queue depth, overflow policy."""
        return [
            SubscriptionInfo(w.pattern, w.name, w.mailbox.size, w.options.overflow) for w in self._workers
        ]

    def statistics(self) -> BusStatistics:
        """Counters since start, bus-wide and per subscriber, and each subscriber's queue depth."""
        depths: dict[str, int] = {}
        for worker in self._workers:
            depths[worker.name] = depths.get(worker.name, 0) + worker.mailbox.size
        return self._counters.statistics(self._published, depths)

    async def partitions(self) -> list[PartitionStatus]:
        """The keyed-topic partitions this process owns per subscription (Redis); none in memory."""
        return []

    def history(self, limit: int | None = None) -> list[Envelope]:
        """The most recent events published here, oldest first (at most ``limit``)."""
        events = list(self._history)
        return events if limit is None else events[-limit:] if limit > 0 else []

    def watch(self, watcher: Callable[[Envelope], None]) -> Callable[[], None]:
        """Tell ``watcher`` of each event published here from now on, as an observer (no
        subscription: no mailbox, retries, dead letters or counters); call the result to stop."""
        return self._history.watch(watcher)

    # dead letters

    def _failed(self, failure: Failure) -> None:
        """Tell the failure listener; a backend calls it for each dead letter it stores."""
        notify(self.failure_listener, failure)

    async def _dead_letter(
        self, worker: Worker, envelope: Envelope, reason: DeadLetterReason, error: str
    ) -> None:
        """Backend hook: set an event aside for one subscriber."""
        raise NotImplementedError

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """Backend hook: the stored dead letters, oldest first."""
        raise NotImplementedError

    async def replay_dead_letter(self, dead_letter_id: str) -> None:
        """Backend hook: deliver one dead letter again to the subscriber that failed it."""
        raise NotImplementedError

    async def replay_dead_letters(self) -> int:
        """Replay every replayable dead letter; return how many were replayed."""
        count = 0
        for letter in await self.dead_letters():
            if letter.replayable:
                try:
                    await self.replay_dead_letter(letter.id)
                except (ReplayError, DeadLetterNotFoundError):
                    continue
                count += 1
        return count

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._state.value}, {len(self._workers)} subscription(s))"


def _qualified_name(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", None) or type(handler).__module__
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{name}"
