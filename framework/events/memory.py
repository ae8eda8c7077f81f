"""In-process delivery: per-subscriber priority mailboxes and workers, and the in-memory bus.

``BusCore`` holds what every backend shares (workers with retries, timeouts and dead letters,
history, statistics, payload schemas, request/reply, scoped views); ``MemoryBus`` adds
in-process routing. The Redis backend reuses the core for local delivery.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from enum import Enum
from types import CoroutineType, MappingProxyType, TracebackType
from typing import Any, Self

from framework.config.schema import Schema, check_schema, normalize
from framework.events.bus import (
    BusStatistics,
    DeadLetter,
    DeadLetterReason,
    Filter,
    Handler,
    ScopedBus,
    Subscription,
    SubscriptionInfo,
)
from framework.events.envelope import (
    DEFAULT_PRIORITY,
    EMPTY,
    MAX_PRIORITY,
    SCHEMA_VERSION,
    BareEnvelope,
    Envelope,
    check_priority,
    new_id,
)
from framework.events.errors import (
    BusClosedError,
    DeadLetterNotFoundError,
    HandlerTimeoutError,
    PayloadValidationError,
    ReplayError,
    RequestTimeoutError,
)
from framework.events.settings import BusSettings, Overflow
from framework.events.topics import TopicIndex, matches, validate_pattern, validate_topic

_now = time.time

_YIELD_EVERY = 256  # a burst of sync handlers must not starve the event loop


class Mailbox:
    """A bounded queue: highest priority first, FIFO within a priority.

    ``MemoryBus.publish`` inlines ``offer`` for default-priority events: it appends to
    ``normal``, bumps ``size`` and wakes a waiting ``getter`` itself.
    """

    __slots__ = ("maxsize", "size", "limit", "normal", "getter", "_buckets", "_top", "_putters")

    def __init__(self, maxsize: int, gated: bool = False) -> None:
        self.maxsize, self.size = maxsize, 0
        # ``offer`` takes events while size < limit; a gated mailbox (its subscription has a
        # filter to run first) has limit 0, so every event takes the caller's slow path.
        self.limit = 0 if gated else maxsize
        self._buckets: list[deque[Envelope]] = [deque() for _ in range(MAX_PRIORITY + 1)]
        self.normal = self._buckets[DEFAULT_PRIORITY]
        # Buckets above _top are empty, and _top never drops below the default priority, so
        # adding a default-priority event never has to move it.
        self._top = DEFAULT_PRIORITY
        self.getter: asyncio.Future[None] | None = None  # the worker waiting for an event
        self._putters: deque[tuple[int, asyncio.Future[None]]] = deque()  # (wake at size <=, ...)

    def offer(self, envelope: Envelope) -> bool:
        """Add one event if there is room and no gate; False tells the caller to take over."""
        if self.size >= self.limit:
            return False
        self.put(envelope)
        return True

    def put(self, envelope: Envelope) -> None:
        """Add one event (the caller checked there is room)."""
        priority = envelope.priority
        self._buckets[priority].append(envelope)
        self.size += 1
        if priority > self._top:
            self._top = priority
        if self.getter is not None:
            self.wake()

    def pop(self) -> Envelope | None:
        """The next event, or None when empty."""
        if not self.size:
            return None
        buckets, top = self._buckets, self._top
        while not buckets[top]:
            top -= 1
        envelope = buckets[top].popleft()
        if top > DEFAULT_PRIORITY and not buckets[top]:
            top -= 1
        self._top = max(top, DEFAULT_PRIORITY)
        self.size -= 1
        if self._putters and self.size <= self._putters[0][0]:
            self._wake_putter()
        return envelope

    def drop_oldest(self) -> Envelope:
        """Remove and return the oldest event of the lowest priority (the caller checked size)."""
        bucket = next(b for b in self._buckets if b)
        self.size -= 1
        return bucket.popleft()

    def clear(self) -> int:
        """Empty the mailbox and release waiting publishers; return how many events it held."""
        count, self.size = self.size, 0
        for bucket in self._buckets:
            bucket.clear()
        while self._putters:
            self._wake_putter()
        return count

    async def wait_item(self) -> None:
        """Return once an event was put (or ``wake`` was called)."""
        self.getter = asyncio.get_running_loop().create_future()
        await self.getter

    async def wait_space(self, below: int | None = None) -> None:
        """Return once the size dropped to ``below`` (default: room for one more event).

        The caller re-checks: another publisher may have taken the room first.
        """
        entry = (self.maxsize - 1 if below is None else below, asyncio.get_running_loop().create_future())
        self._putters.append(entry)
        try:
            await entry[1]
        finally:
            if entry in self._putters:
                self._putters.remove(entry)

    def wake(self) -> None:
        """Wake a waiting getter without an event (to let it notice shutdown)."""
        getter, self.getter = self.getter, None
        if getter is not None and not getter.done():
            getter.set_result(None)

    def _wake_putter(self) -> None:
        _, waiter = self._putters.popleft()
        if not waiter.done():
            waiter.set_result(None)


class Counters:
    """The bus-wide counters workers bump (the bus counts published events itself)."""

    __slots__ = ("delivered", "failed", "dead_lettered", "dropped")

    def __init__(self) -> None:
        self.delivered = self.failed = self.dead_lettered = self.dropped = 0


class Options:
    """One subscription's delivery options: explicit ones, else the bus settings (live)."""

    __slots__ = ("explicit", "queue_size", "overflow", "max_retries", "retry_backoff", "timeout")

    def __init__(self, explicit: Mapping[str, Any], settings: BusSettings) -> None:
        self.explicit = {k: v for k, v in explicit.items() if v is not None}
        self.apply(settings)

    def apply(self, settings: BusSettings) -> None:
        """Take the bus settings for every option not given explicitly."""
        get = self.explicit.get
        self.queue_size = _positive_int("queue_size", get("queue_size", settings.queue_size))
        self.overflow = _overflow(get("overflow", settings.overflow))
        self.max_retries = _count("max_retries", get("max_retries", settings.max_retries))
        self.retry_backoff = _seconds("retry_backoff", get("retry_backoff", settings.retry_backoff))
        self.timeout = _seconds("handler_timeout", get("handler_timeout", settings.handler_timeout))


DeadLetterSink = Callable[["Worker", Envelope, DeadLetterReason, str], Coroutine[Any, Any, None]]


class Worker:
    """Delivers one subscription's mailbox to its handler, one event at a time.

    A failed attempt (an exception, or an async handler outliving ``handler_timeout``) is
    retried with exponential backoff up to ``max_retries``, then dead-lettered. The timeout
    costs no timer per event: one watchdog timer per worker re-arms itself to the deadline of
    whatever call is running when it fires.
    """

    def __init__(
        self,
        pattern: str,
        name: str,
        handler: Handler,
        filter: Filter | None,
        options: Options,
        counters: Counters,
        dead_letter: DeadLetterSink,
        on_success: Callable[[Envelope], None] | None = None,
    ) -> None:
        self.pattern, self.name, self.handler, self.filter = pattern, name, handler, filter
        self.options, self.counters = options, counters
        self.mailbox = Mailbox(options.queue_size, gated=filter is not None)
        self.dead_letter, self.on_success = dead_letter, on_success
        self.handle: Subscription | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self._busy, self._deadline, self._fired = False, 0.0, False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def active(self) -> bool:
        """Whether the subscription still takes events."""
        return self.handle is not None and self.handle.active

    def start(self) -> None:
        """Run the delivery loop as a task."""
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"event-bus:{self.name}:{self.pattern}"
        )

    def close(self) -> None:
        """Finish what is queued, then end."""
        self.closing = True
        self.mailbox.wake()

    def abort(self) -> int:
        """End now; return how many queued events are dropped."""
        self.closing = True
        if self.task is not None:
            self.task.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return self.mailbox.clear()

    async def _run(self) -> None:
        mailbox, counters, handler = self.mailbox, self.counters, self.handler
        since_yield = 0
        while True:
            envelope = mailbox.pop()
            if envelope is None:
                if self.closing:
                    return
                since_yield = 0
                await mailbox.wait_item()
                continue
            since_yield += 1
            if since_yield >= _YIELD_EVERY:
                since_yield = 0
                await asyncio.sleep(0)
            # The first attempt is inlined: this loop is the delivery hot path.
            try:
                result = handler(envelope)
                if result is not None and (type(result) is CoroutineType or _awaitable(result)):
                    await self._bounded(result)
            except Exception as exc:
                await self._recover(envelope, exc)
            except asyncio.CancelledError as exc:
                if self._cancelled():
                    raise
                await self._recover(envelope, exc)  # the handler's own, not ours: a failure
            else:
                counters.delivered += 1
                if self.on_success is not None:
                    self.on_success(envelope)

    async def _bounded(self, awaitable: Any) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self.options.timeout
        self._busy = True
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._watch)
        try:
            await awaitable
        except asyncio.CancelledError:
            # Ours only if the watchdog fired and nobody else (stop, cancel) cancelled too.
            if self._fired and self._take_cancel() == 0:
                raise self._timeout_error() from None
            raise
        finally:
            self._busy = False
        if self._fired:  # the handler swallowed the watchdog's cancellation and finished
            self._take_cancel()

    def _cancelled(self) -> bool:
        return self.task is None or self.task.cancelling() > 0

    def _take_cancel(self) -> int:
        self._fired = False
        return self.task.uncancel() if self.task is not None else 0

    def _watch(self) -> None:
        self._timer = None
        if not self._busy or self.task is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() + 0.001 >= self._deadline:
            self._fired = True
            self.task.cancel()
        else:
            self._timer = loop.call_at(self._deadline, self._watch)

    def _timeout_error(self) -> HandlerTimeoutError:
        return HandlerTimeoutError(
            f"handler of subscriber '{self.name}' ({self.pattern}) ran longer than "
            f"handler_timeout={self.options.timeout} s"
        )

    async def _call(self, envelope: Envelope) -> BaseException | None:
        try:
            result = self.handler(envelope)
            if result is not None and _awaitable(result):
                await self._bounded(result)
        except Exception as exc:
            return exc
        except asyncio.CancelledError as exc:
            if self._cancelled():
                raise
            return exc
        return None

    async def _recover(self, envelope: Envelope, error: BaseException) -> None:
        first, tries = envelope.attempts, 1
        while True:
            self.counters.failed += 1
            if tries > self.options.max_retries:
                text = f"{tries} attempt(s) failed; last: {type(error).__name__}: {error}"
                await self.dead_letter(self, envelope, DeadLetterReason.HANDLER_FAILED, text)
                return
            await asyncio.sleep(self.options.retry_backoff * 2 ** (tries - 1))
            tries += 1
            envelope = envelope.with_metadata(attempts=first + tries - 1)
            failure = await self._call(envelope)
            if failure is None:
                self.counters.delivered += 1
                if self.on_success is not None:
                    self.on_success(envelope)
                return
            error = failure


class _State(Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


_RUNNING = _State.RUNNING


class BusCore:
    """What every backend shares; subclasses route published events to ``Worker`` mailboxes."""

    def __init__(
        self, settings: BusSettings | None = None, *, schemas: Mapping[str, Schema] | None = None
    ) -> None:
        self._settings = settings or BusSettings()
        self._state = _State.NEW
        self._fast = False  # running, no payload schemas, no check_json: publish takes a shortcut
        self._workers: list[Worker] = []
        self._counters = Counters()
        self._published = 0  # on the bus, not in Counters: one attribute hop less per publish
        self._history: deque[Envelope] = deque(maxlen=self._settings.history_size)
        self._schemas: dict[str, Schema] = {}
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
        self._fast = state is _RUNNING and not self._schemas and not self._settings.check_json

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
            self._counters.dropped += worker.abort()
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
    ) -> Subscription:
        """Deliver events whose topic matches ``pattern`` to ``handler``; return the undo handle.

        ``subscriber`` names the receiving component (default: the handler's qualified name);
        the other options override the bus settings for this subscription.
        """
        self._require_running("subscribe")
        validate_pattern(pattern)
        if not callable(handler):
            raise TypeError(f"handler for '{pattern}' must be callable, got {handler!r}")
        if filter is not None and not callable(filter):
            raise TypeError(f"filter for '{pattern}' must be a callable predicate, got {filter!r}")
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
            self._counters,
            self._dead_letter,
        )
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
        self._counters.dropped += worker.abort()

    # publishing helpers

    def register_schema(self, event_type: str, schema: Schema) -> None:
        """Check the data of every ``event_type`` event against a Cerberus schema at publish."""
        validate_topic(event_type)
        check_schema(schema, f"payload schema of event '{event_type}'")
        self._schemas[event_type] = schema
        self._set_state(self._state)

    def _checked_data(self, topic: str, data: Any) -> Any:
        schema = self._schemas.get(topic)
        if schema is None:
            return data
        if not isinstance(data, Mapping):
            raise PayloadValidationError(
                topic, [f"data must be a mapping (its schema has fields), got {type(data).__name__}"]
            )
        document, problems = normalize(data, schema, memo=False)  # payloads rarely repeat
        if problems:
            raise PayloadValidationError(
                topic,
                [
                    f"field '{'.'.join(p.path)}' {p.message}" + (f" (got {p.value!r})" if p.has_value else "")
                    for p in problems
                ],
            )
        return document

    def _envelope(
        self,
        topic: str,
        data: Any,
        priority: int,
        source: str | None,
        correlation_id: str | None,
        causation_id: str | None,
        metadata: Mapping[str, Any] | None,
    ) -> Envelope:
        """A checked envelope for the general (non hot) publish path."""
        self._require_running(f"publish '{topic}'")
        validate_topic(topic)
        if priority != DEFAULT_PRIORITY:
            check_priority(priority)
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
    ) -> Envelope:
        """Backend hook: see ``MemoryBus.publish``."""
        raise NotImplementedError

    async def publish_many(
        self,
        events: Iterable[tuple[str, Any]],
        *,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Envelope]:
        """Publish ``(topic, data)`` pairs in order; all are checked before any is sent."""
        envelopes = [
            self._envelope(topic, data, priority, source, None, None, metadata) for topic, data in events
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
    ) -> ScopedBus:
        """A view for one component: stamps ``source``, refuses undeclared topics."""
        return ScopedBus(self, component, publishes, subscribes)

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
        """Counters since start and the current queue depth of each subscriber."""
        depths: dict[str, int] = {}
        for worker in self._workers:
            depths[worker.name] = depths.get(worker.name, 0) + worker.mailbox.size
        c = self._counters
        return BusStatistics(self._published, c.delivered, c.failed, c.dead_lettered, c.dropped, depths)

    def history(self, limit: int | None = None) -> list[Envelope]:
        """The most recent events published here, oldest first (at most ``limit``)."""
        events = list(self._history)
        return events if limit is None else events[-limit:] if limit > 0 else []

    # dead letters

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


class MemoryBus(BusCore):
    """The in-process bus: publish enqueues into the matching subscribers' mailboxes.

    Matching is a topic index with a per-topic cache, so a publish costs one dict lookup and
    one enqueue per matching subscriber, however many patterns are registered. Each
    subscriber has a bounded priority mailbox and its own worker task: a slow handler delays
    only its own subscription, and a full mailbox applies that subscription's overflow policy.
    """

    def __init__(
        self, settings: BusSettings | None = None, *, schemas: Mapping[str, Schema] | None = None
    ) -> None:
        super().__init__(settings, schemas=schemas)
        self._index: TopicIndex[Worker] = TopicIndex()
        self._routes: dict[str, tuple[Mailbox, ...]] = {}  # topic -> its subscribers' mailboxes
        self._owners: dict[Mailbox, Worker] = {}
        self._letters: OrderedDict[str, DeadLetter] = OrderedDict()

    async def publish(
        self,
        topic: str,
        data: Any = None,
        priority: int = DEFAULT_PRIORITY,
        source: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Envelope:
        """Publish an event; return its envelope once every matching subscriber has it queued.

        Raises InvalidTopicError, ValueError (priority), PayloadValidationError,
        EventSerializationError (with ``check_json``) or BusClosedError. With overflow
        ``block``, waits while a matching subscriber's mailbox is full.

        Pass what follows ``data`` by keyword, as ``EventBus.publish`` declares. They are not
        keyword-only here because a call then looks each omitted one up in a dict: about a
        tenth of the cost of a publish.
        """
        if not (self._fast and priority == DEFAULT_PRIORITY and metadata is None):
            checked = self._envelope(topic, data, priority, source, correlation_id, causation_id, metadata)
            if self._settings.check_json:
                checked.to_json()
            return await self._enqueue(checked)
        # The hot path: a default-priority event of a type without a schema. The envelope is
        # built here, not by Envelope(...): calling a class with a Python __init__ costs more
        # than the whole enqueue. Same fields and defaults as Envelope(topic, data, ...).
        envelope = BareEnvelope()
        envelope._id = None  # numbered when first read: most never are
        envelope.type = topic
        envelope.data = data
        envelope.time = _now()
        envelope.source = source
        envelope.priority = DEFAULT_PRIORITY
        envelope.correlation_id = correlation_id
        envelope.causation_id = causation_id
        envelope.schema_version = SCHEMA_VERSION
        envelope.metadata = EMPTY
        try:
            mailboxes = self._routes[topic]
        except KeyError:
            mailboxes = self._route(topic)
        self._history.append(envelope)
        self._published += 1
        for mailbox in mailboxes:  # Mailbox.offer, inlined for a default-priority event
            if mailbox.size < mailbox.limit:
                mailbox.normal.append(envelope)
                mailbox.size += 1
                if mailbox.getter is not None:
                    mailbox.wake()
            else:
                await self._offer(self._owners[mailbox], envelope)
        return envelope

    async def _enqueue(self, envelope: Envelope) -> Envelope:
        mailboxes = self._routes.get(envelope.type)
        if mailboxes is None:
            mailboxes = self._route(envelope.type)
        self._history.append(envelope)
        self._published += 1
        for mailbox in mailboxes:
            if not mailbox.offer(envelope):
                await self._offer(self._owners[mailbox], envelope)
        return envelope

    def _route(self, topic: str) -> tuple[Mailbox, ...]:
        mailboxes = tuple(worker.mailbox for worker in self._index.match(topic))
        if len(self._routes) >= 10_000:  # topics can be unbounded (one per symbol, say)
            self._routes.clear()
        self._routes[topic] = mailboxes
        return mailboxes

    async def _publish_checked(self, envelopes: list[Envelope]) -> None:
        if self._settings.check_json:  # all serializable before any is queued
            for envelope in envelopes:
                envelope.to_json()
        for envelope in envelopes:
            await self._enqueue(envelope)

    async def _offer(self, worker: Worker, envelope: Envelope) -> None:
        if worker.filter is not None and not await self._passes(worker, worker.filter, envelope):
            return
        mailbox = worker.mailbox
        if mailbox.size < mailbox.maxsize:
            mailbox.put(envelope)
        elif worker.options.overflow is Overflow.BLOCK:
            while mailbox.size >= mailbox.maxsize:
                if not worker.active:
                    return
                await mailbox.wait_space()
            if worker.active:
                mailbox.put(envelope)
        elif worker.options.overflow is Overflow.DROP_OLDEST:
            mailbox.drop_oldest()
            self._counters.dropped += 1
            mailbox.put(envelope)
        else:
            text = f"queue of subscriber '{worker.name}' is full ({mailbox.maxsize} events)"
            await self._dead_letter(worker, envelope, DeadLetterReason.QUEUE_FULL, text)

    async def _passes(self, worker: Worker, predicate: Filter, envelope: Envelope) -> bool:
        try:
            return bool(predicate(envelope))
        except Exception as exc:
            text = f"filter of subscriber '{worker.name}' raised {type(exc).__name__}: {exc}"
            await self._dead_letter(worker, envelope, DeadLetterReason.FILTER_FAILED, text)
            return False

    async def _attach(self, worker: Worker) -> None:
        self._index.add(worker.pattern, worker)
        self._owners[worker.mailbox] = worker
        self._routes.clear()

    def _detach(self, worker: Worker) -> None:
        self._index.remove(worker.pattern, worker)
        self._owners.pop(worker.mailbox, None)
        self._routes.clear()
        super()._detach(worker)

    async def _close(self, deadline: float) -> None:
        for worker in list(self._index.items()):
            self._index.remove(worker.pattern, worker)
        self._routes.clear()
        self._owners.clear()

    async def _dead_letter(
        self, worker: Worker, envelope: Envelope, reason: DeadLetterReason, error: str
    ) -> None:
        self._store(DeadLetter(new_id(), worker.name, reason, error, envelope, envelope.time))

    def _store(self, letter: DeadLetter) -> None:
        self._letters[letter.id] = letter
        self._counters.dead_lettered += 1
        while len(self._letters) > self._settings.dead_letter_size:
            self._letters.popitem(last=False)

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The stored dead letters, oldest first (at most ``limit``, the newest ones)."""
        letters = list(self._letters.values())
        return letters if limit is None else letters[-limit:] if limit > 0 else []

    async def replay_dead_letter(self, dead_letter_id: str) -> None:
        """Queue a dead letter again for its subscriber(s) and forget it.

        Raises DeadLetterNotFoundError for an unknown id, ReplayError when no live
        subscription of that subscriber matches the event's type any more.
        """
        self._require_running("replay a dead letter")
        letter = self._letters.get(dead_letter_id)
        if letter is None:
            raise DeadLetterNotFoundError(
                f"no dead letter with id {dead_letter_id!r} (it was replayed, or evicted beyond "
                f"dead_letter_size={self._settings.dead_letter_size})"
            )
        envelope = letter.envelope
        if envelope is None:
            raise ReplayError(f"dead letter {dead_letter_id} is not an envelope; cannot replay")
        targets = [
            w for w in self._workers if w.name == letter.subscriber and matches(w.pattern, envelope.type)
        ]
        if not targets:
            raise ReplayError(
                f"dead letter {dead_letter_id} ('{envelope.type}') cannot be replayed: subscriber "
                f"'{letter.subscriber}' has no live subscription matching it"
            )
        del self._letters[dead_letter_id]
        fresh = envelope.replace(
            metadata=MappingProxyType({k: v for k, v in envelope.metadata.items() if k != "attempts"})
        )
        for worker in targets:
            await self._offer(worker, fresh)


def _awaitable(value: object) -> bool:
    return inspect.isawaitable(value)


def _qualified_name(handler: Callable[..., Any]) -> str:
    module = getattr(handler, "__module__", None) or type(handler).__module__
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{name}"


def _positive_int(key: str, value: Any) -> int:
    if type(value) is not int or value < 1:
        raise ValueError(f"{key}={value!r} is invalid: use an int >= 1")
    return value


def _count(key: str, value: Any) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{key}={value!r} is invalid: use an int >= 0")
    return value


def _seconds(key: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key}={value!r} is invalid: use a number of seconds >= 0")
    return float(value)


def _overflow(value: Any) -> Overflow:
    try:
        return Overflow(value)
    except ValueError:
        accepted = ", ".join(o.value for o in Overflow)
        raise ValueError(f"overflow={value!r} is invalid: use one of {accepted}") from None
