"""What the bus counts, per subscriber: the delivery path bumps ints here, readers add them up.

Each subscriber name has one ``SubscriberCounters`` for the life of the bus, shared by all its
subscriptions, so a component that unsubscribes and subscribes again (a restart, a reload)
keeps counting up, as a Prometheus counter must. The bus-wide totals are their sums, made when
someone asks (``statistics()``), so delivering an event bumps one counter, not two.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping

from framework.events.records import HANDLER_SECONDS_BUCKETS, BusStatistics, SubscriberStatistics


class SubscriberCounters:
    """One subscriber's counters; ``Worker`` inlines ``observe`` on its hot path.

    A handler call that ends is counted once, in ``calls``: it either delivered the event, or
    failed (``failed``), or was cut off by the worker's own cancellation (``interrupted``). So
    ``delivered`` is what is left, and the fastest duration bucket is the calls no slower bucket
    took: a call in the first bucket (most in-memory calls) costs one increment, not three.
    """

    __slots__ = ("calls", "failed", "interrupted", "dead_lettered", "dropped", "durations", "duration_sum")

    def __init__(self) -> None:
        self.calls = self.failed = self.interrupted = self.dead_lettered = self.dropped = 0
        # Calls per bucket (bisect_left finds the first bound >= the duration: Prometheus' `le`),
        # not cumulative; the last slot counts the slower ones. Slot 0 stays 0 here: its count
        # is ``calls`` minus the others (see ``statistics``).
        self.durations = [0] * (len(HANDLER_SECONDS_BUCKETS) + 1)
        self.duration_sum = 0.0

    @property
    def delivered(self) -> int:
        """Events a handler took: calls that neither failed nor were interrupted."""
        return self.calls - self.failed - self.interrupted

    def observe(self, seconds: float) -> None:
        """Count one handler call that took ``seconds``."""
        self.calls += 1
        bucket = bisect_left(HANDLER_SECONDS_BUCKETS, seconds)
        if bucket:
            self.durations[bucket] += 1
        self.duration_sum += seconds

    def statistics(self) -> SubscriberStatistics:
        durations = list(self.durations)
        durations[0] = self.calls - sum(durations)
        return SubscriberStatistics(
            self.delivered, self.failed, self.dead_lettered, self.dropped,
            tuple(durations), self.duration_sum,
        )


class Counters:
    """The bus's counters: one ``SubscriberCounters`` per subscriber name, kept while the bus lives."""

    __slots__ = ("subscribers",)

    def __init__(self) -> None:
        self.subscribers: dict[str, SubscriberCounters] = {}

    def of(self, subscriber: str) -> SubscriberCounters:
        """The counters of ``subscriber``, made on first use."""
        counters = self.subscribers.get(subscriber)
        if counters is None:
            counters = self.subscribers[subscriber] = SubscriberCounters()
        return counters

    def statistics(self, published: int, queue_depths: Mapping[str, int]) -> BusStatistics:
        """Bus-wide totals (sums over subscribers), queue depths, and each subscriber's own."""
        each = {name: counters.statistics() for name, counters in sorted(self.subscribers.items())}
        values = each.values()
        return BusStatistics(
            published,
            sum(s.delivered for s in values),
            sum(s.failed for s in values),
            sum(s.dead_lettered for s in values),
            sum(s.dropped for s in values),
            dict(queue_depths),
            each,
        )
