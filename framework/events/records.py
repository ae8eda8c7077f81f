"""The records the event bus hands out: handler aliases, dead letters, statistics, subscriptions.

Plain values and the ``Subscription`` undo handle, shared by the contract (``bus``), the
delivery machinery and every backend; below them all, it needs only the envelope and settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from framework.events.envelope import Envelope
from framework.events.partitioning import Partition
from framework.events.settings import Overflow

Handler = Callable[[Envelope], Awaitable[None] | None]
"""A subscriber: sync or async, given each matching envelope."""
Filter = Callable[[Envelope], bool]
"""A predicate run before delivery: False skips the event for that subscription."""
PartitionsHook = Callable[[frozenset[Partition]], Awaitable[None] | None]
"""``on_partitions_assigned`` / ``on_partitions_revoked``: sync or async, given the partitions."""


class DeadLetterReason(StrEnum):
    """Why an event was set aside instead of delivered."""

    HANDLER_FAILED = "handler_failed"  # raised or timed out on every attempt
    QUEUE_FULL = "queue_full"  # overflow policy dead_letter
    FILTER_FAILED = "filter_failed"  # the subscription's filter raised
    MAX_DELIVERIES = "max_deliveries"  # redis: redelivered too often (consumers died)
    BAD_SIGNATURE = "bad_signature"  # redis: HMAC does not match (forged or wrong key)
    UNSIGNED = "unsigned"  # redis: entry has no signature
    UNDECODABLE = "undecodable"  # redis: not an envelope (a foreign producer)
    WRONG_STREAM = "wrong_stream"  # redis: signed for another topic's stream (moved or copied)
    REPLAYED = "replayed"  # redis: a copy of an entry already read (same signed envelope)
    EXPIRED = "expired"  # redis: signed longer ago than redis.replay_window (or far ahead)


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
        """Whether ``replay_dead_letters`` delivers it again.

        Foreign entries cannot be delivered. An expired one only by its id
        (``replay_dead_letter``): it may be a replayed copy, or an entry that waited too long.
        """
        return self.envelope is not None and self.reason is not DeadLetterReason.EXPIRED


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """One live subscription, as ``subscriptions()`` reports it."""

    pattern: str
    subscriber: str
    queue_depth: int
    overflow: Overflow


# Upper bounds (seconds) of the handler-duration buckets: in-memory handlers take microseconds,
# ones that call out take milliseconds to seconds.
HANDLER_SECONDS_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


@dataclass(frozen=True, slots=True)
class SubscriberStatistics:
    """One subscriber's counters since the bus started, over all its subscriptions."""

    delivered: int = 0
    failed: int = 0  # failed handler attempts, timeouts included
    dead_lettered: int = 0
    dropped: int = 0
    # Handler calls per bucket of HANDLER_SECONDS_BUCKETS (not cumulative), then the ones slower
    # than the last bound; and their total seconds.
    handler_seconds: tuple[int, ...] = (0,) * (len(HANDLER_SECONDS_BUCKETS) + 1)
    handler_seconds_sum: float = 0.0


@dataclass(frozen=True, slots=True)
class BusStatistics:
    """Counters since start (bus-wide, and per subscriber), and current queue depths per subscriber."""

    published: int = 0
    delivered: int = 0
    failed: int = 0  # failed handler attempts, timeouts included
    dead_lettered: int = 0
    dropped: int = 0  # overflow drop_oldest, cancelled or stopped with events queued
    queue_depths: Mapping[str, int] = field(default_factory=dict)
    subscribers: Mapping[str, SubscriberStatistics] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
class PartitionStatus:
    """One subscription on one keyed topic: what this process owns, each one's lag, rebalances."""

    subscriber: str
    topic: str
    member: str  # this process in the group (the bus's consumer name)
    owned: tuple[int, ...]
    lag: Mapping[int, int]  # owned partition -> entries not yet acknowledged (pending + unread)
    rebalances: int  # rebalances that moved partitions to or from this member
