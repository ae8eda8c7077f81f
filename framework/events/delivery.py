"""Per-subscriber delivery: a bounded priority mailbox and the worker that drains it.

Each subscription gets its own ``Mailbox`` and ``Worker`` task, so a slow or failing handler
holds up only its own subscriber. Retries with backoff, handler timeouts and the hand-off of
failed events to the backend's dead-letter sink live here, so every backend delivers alike.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from types import CoroutineType
from typing import Any

from framework.events.counters import SubscriberCounters
from framework.events.envelope import DEFAULT_PRIORITY, MAX_PRIORITY, Envelope
from framework.events.errors import HandlerTimeoutError
from framework.events.failures import Failure, FailureListener
from framework.events.records import (
    HANDLER_SECONDS_BUCKETS,
    DeadLetterReason,
    Filter,
    Handler,
    PartitionsHook,
    Subscription,
)
from framework.events.settings import BusSettings, Overflow

_YIELD_EVERY = 256  # a burst of sync handlers must not starve the event loop
_clock = time.perf_counter


class Mailbox:
    """A bounded queue: highest priority first, FIFO within a priority.

    ``MemoryBus.publish`` inlines ``offer`` for default-priority events: it appends to
    ``normal``, bumps ``size`` and wakes a waiting ``getter`` itself. ``Worker`` inlines ``pop``
    while ``plain`` (nothing above the default priority is queued, ``top``, and no publisher
    waits for room, ``putters``): it takes the head of ``normal`` and lowers ``size``.
    """

    __slots__ = ("maxsize", "size", "limit", "normal", "getter", "top", "putters", "plain", "_buckets")

    def __init__(self, maxsize: int, gated: bool = False) -> None:
        self.maxsize, self.size = maxsize, 0
        # ``offer`` takes events while size < limit; a gated mailbox (its subscription has a
        # filter to run first) has limit 0, so every event takes the caller's slow path.
        self.limit = 0 if gated else maxsize
        self._buckets: list[deque[Envelope]] = [deque() for _ in range(MAX_PRIORITY + 1)]
        self.normal = self._buckets[DEFAULT_PRIORITY]
        # Buckets above top are empty, and top never drops below the default priority, so
        # adding a default-priority event never has to move it.
        self.top = DEFAULT_PRIORITY
        self.getter: asyncio.Future[None] | None = None  # the worker waiting for an event
        self.putters: deque[tuple[int, asyncio.Future[None]]] = deque()  # (wake at size <=, ...)
        # top == DEFAULT_PRIORITY and not putters, kept up to date by whatever changes either:
        # the worker then tests one attribute per event instead of two.
        self.plain = True

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
        if priority > self.top:
            self.top = priority
            self.plain = False
        if self.getter is not None:
            self.wake()

    def pop(self) -> Envelope | None:
        """The next event, or None when empty."""
        if not self.size:
            return None
        buckets, top = self._buckets, self.top
        while not buckets[top]:
            top -= 1
        envelope = buckets[top].popleft()
        if top > DEFAULT_PRIORITY and not buckets[top]:
            top -= 1
        self.top = max(top, DEFAULT_PRIORITY)
        self.size -= 1
        if self.putters and self.size <= self.putters[0][0]:
            self._wake_putter()
        self._replan()
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
        while self.putters:
            self._wake_putter()
        self.top = DEFAULT_PRIORITY  # every bucket is empty
        self._replan()
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
        self.putters.append(entry)
        self.plain = False
        try:
            await entry[1]
        finally:
            if entry in self.putters:
                self.putters.remove(entry)
            self._replan()

    def wake(self) -> None:
        """Wake a waiting getter without an event (to let it notice shutdown)."""
        getter, self.getter = self.getter, None
        if getter is not None and not getter.done():
            getter.set_result(None)

    def _wake_putter(self) -> None:
        _, waiter = self.putters.popleft()
        if not waiter.done():
            waiter.set_result(None)
        self._replan()

    def _replan(self) -> None:
        self.plain = self.top == DEFAULT_PRIORITY and not self.putters


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

    It counts into its subscriber's ``counters`` (shared by that subscriber's subscriptions):
    events delivered, failed attempts, and how long each handler call took.
    A failed attempt (an exception, or an async handler outliving ``handler_timeout``) is
    retried with exponential backoff up to ``max_retries``, then dead-lettered. The timeout
    costs no timer per event: one watchdog timer per worker re-arms itself to the deadline of
    whatever call is running when it fires. The delivery loop leaves a call's deadline set
    after the call: the watchdog runs only while the worker is suspended, and every suspension
    but the handler's own clears the deadline first (None: idle).
    """

    def __init__(
        self,
        pattern: str,
        name: str,
        handler: Handler,
        filter: Filter | None,
        options: Options,
        counters: SubscriberCounters,
        dead_letter: DeadLetterSink,
        on_success: Callable[[Envelope], None] | None = None,
    ) -> None:
        self.pattern, self.name, self.handler, self.filter = pattern, name, handler, filter
        self.options, self.counters = options, counters
        self.mailbox = Mailbox(options.queue_size, gated=filter is not None)
        self.dead_letter, self.on_success = dead_letter, on_success
        self.handle: Subscription | None = None
        # (on_partitions_assigned, on_partitions_revoked): the Redis backend calls them.
        self.partition_hooks: tuple[PartitionsHook | None, PartitionsHook | None] = (None, None)
        # Asked before each event is handled, when set: False drops it unhandled. The Redis
        # backend sets it once a subscription reads partitions, so an entry queued before its
        # partition's lease was lost is never handled by the stale owner.
        self.admit: Callable[[Envelope], bool] | None = None
        self.task: asyncio.Task[None] | None = None
        self.failures: FailureListener | None = None  # told of each failed attempt (the bus sets it)
        self.closing = False
        # The running call's deadline (a _clock time), None while no handler call is suspended.
        self._deadline: float | None = None
        self._fired = False
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
        mailbox, counters, handler, options = self.mailbox, self.counters, self.handler, self.options
        normal, clock, durations, fastest = mailbox.normal, _clock, counters.durations, HANDLER_SECONDS_BUCKETS[0]
        coroutine, batch, envelope = CoroutineType, range(_YIELD_EVERY), None
        is_async = inspect.iscoroutinefunction(handler)  # then every call returns a coroutine
        started = clock()
        while True:
            for _ in batch:  # at most _YIELD_EVERY events, then the other tasks' turn (else)
                if mailbox.plain and normal:  # pop, inlined
                    envelope = normal.popleft()
                    mailbox.size -= 1
                elif (envelope := mailbox.pop()) is None:
                    if self.closing:
                        return
                    self._deadline = None  # idle: the watchdog must not fire
                    await mailbox.wait_item()
                    started = clock()  # time spent waiting is no handler's
                    break  # a fresh batch
                if self.admit is not None and not self.admit(envelope):
                    continue
                # The first attempt is inlined: this loop is the delivery hot path. So is its
                # timing, with one clock read per call: in a burst one call's end is the next
                # one's start (the bookkeeping between them, a fraction of a microsecond, is far
                # below the smallest bucket). That read also gives the call's deadline.
                try:
                    result: Any = handler(envelope)  # awaited below when is_async says so
                    if is_async or type(result) is coroutine or (result is not None and _awaitable(result)):
                        self._deadline = started + options.timeout  # _await_within_timeout, inlined
                        if self._timer is None:
                            self._arm()
                        try:
                            await result
                        except asyncio.CancelledError:
                            self._timed_out()
                            raise
                        if self._fired:  # the handler swallowed the watchdog's cancellation and finished
                            self._take_cancel()
                except (Exception, asyncio.CancelledError) as exc:
                    self._deadline = None
                    if not isinstance(exc, Exception) and self._cancelled():
                        raise  # the worker's cancellation (stop, cancel), not the handler's own
                    counters.observe(clock() - started)
                    await self._recover(envelope, exc)
                    started = clock()
                else:
                    now = clock()
                    elapsed, started = now - started, now
                    # SubscriberCounters.observe written out: the first bucket is derived from calls.
                    if elapsed > fastest:
                        durations[bisect_left(HANDLER_SECONDS_BUCKETS, elapsed)] += 1
                    counters.duration_sum += elapsed
                    counters.calls += 1
                    if self.on_success is not None:
                        self.on_success(envelope)
            else:
                self._deadline = None
                await asyncio.sleep(0)
                started = clock()  # nor the other tasks' turn

    async def _await_within_timeout(self, awaitable: Any) -> None:
        self._deadline = _clock() + self.options.timeout
        if self._timer is None:
            self._arm()
        try:
            await awaitable
        except asyncio.CancelledError:
            self._timed_out()
            raise
        finally:
            self._deadline = None
        if self._fired:  # the handler swallowed the watchdog's cancellation and finished
            self._take_cancel()

    def _timed_out(self) -> None:
        """Raise HandlerTimeoutError (from None) for the CancelledError being handled, if it is
        only the watchdog's: it fired and nobody else (stop, cancel) cancelled too."""
        if self._fired and self._take_cancel() == 0:
            raise self._timeout_error() from None

    def _cancelled(self) -> bool:
        return self.task is None or self.task.cancelling() > 0

    def _take_cancel(self) -> int:
        self._fired = False
        return self.task.uncancel() if self.task is not None else 0

    def _arm(self) -> None:
        """Start the watchdog: it fires at the running call's deadline (a ``_clock`` time)."""
        deadline = self._deadline
        if deadline is not None:
            self._timer = asyncio.get_running_loop().call_later(deadline - _clock(), self._watch)

    def _watch(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self.task is None:
            return
        if _clock() + 0.001 >= deadline:
            self._fired = True
            self.task.cancel()
        else:
            self._arm()

    def _timeout_error(self) -> HandlerTimeoutError:
        return HandlerTimeoutError(
            f"handler of subscriber '{self.name}' ({self.pattern}) ran longer than "
            f"handler_timeout={self.options.timeout} s"
        )

    async def _call(self, envelope: Envelope) -> BaseException | None:
        started = _clock()
        try:
            result = self.handler(envelope)
            if result is not None and _awaitable(result):
                await self._await_within_timeout(result)
        except Exception as exc:
            error: BaseException | None = exc
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError) or self._cancelled():
                # The worker's cancellation (or an interpreter exit): timed, neither delivered nor failed.
                self.counters.observe(_clock() - started)
                self.counters.interrupted += 1
                raise
            error = exc
        else:
            error = None
        self.counters.observe(_clock() - started)
        return error

    async def _recover(self, envelope: Envelope, error: BaseException) -> None:
        first, tries = envelope.attempts, 1
        while True:
            self.counters.failed += 1
            if self.failures is not None:
                self.failures(self._failure(envelope, error, final=tries > self.options.max_retries))
            if tries > self.options.max_retries:
                text = f"{tries} attempt(s) failed; last: {type(error).__name__}: {error}"
                await self.dead_letter(self, envelope, DeadLetterReason.HANDLER_FAILED, text)
                return
            await asyncio.sleep(self.options.retry_backoff * 2 ** (tries - 1))
            tries += 1
            envelope = envelope.with_metadata(attempts=first + tries - 1)
            failure = await self._call(envelope)
            if failure is None:  # counted as delivered: a call that did not fail
                if self.on_success is not None:
                    self.on_success(envelope)
                return
            error = failure

    def _failure(self, envelope: Envelope, error: BaseException, final: bool) -> Failure:
        cause = f"{type(error).__name__}: {error}"
        correlation = envelope.correlation_id or envelope.id
        return Failure("handler", self.name, envelope.type, correlation, cause, envelope.attempts, final)


def _awaitable(value: object) -> bool:
    return inspect.isawaitable(value)


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
