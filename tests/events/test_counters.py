"""What the bus counts per subscriber: kept across subscriptions, summed for the bus-wide figures."""

from __future__ import annotations

import asyncio

from framework.events.envelope import Envelope
from framework.events.memory import MemoryBus
from framework.events.records import HANDLER_SECONDS_BUCKETS, BusStatistics
from framework.events.settings import BusSettings, Overflow
from tests.events.conftest import run, until


def test_each_subscriber_counts_deliveries_failures_dead_letters_and_drops() -> None:
    """Per subscriber: events its handler took, failed attempts, dead letters (retries spent or queue
    full) and drops; the bus-wide figures are their sums."""

    def fails(envelope: Envelope) -> None:
        raise ValueError("no")

    async def scenario() -> BusStatistics:
        async with MemoryBus(BusSettings(retry_backoff=0)) as bus:
            await bus.subscribe("t", lambda e: None, subscriber="ok")
            await bus.subscribe("t", fails, subscriber="bad", max_retries=2)
            await bus.subscribe("t", lambda e: None, subscriber="full", queue_size=1, overflow=Overflow.DEAD_LETTER)
            await bus.subscribe("t", lambda e: None, subscriber="drops", queue_size=1, overflow=Overflow.DROP_OLDEST)
            for _ in range(2):  # no await in between suspends: the second finds the 1-event queues full
                await bus.publish("t")
            await until(lambda: bus.statistics().subscribers["bad"].dead_lettered == 2)
            return bus.statistics()

    stats = run(scenario())
    each = stats.subscribers
    assert (each["ok"].delivered, each["ok"].failed, each["ok"].dead_lettered) == (2, 0, 0)
    assert (each["bad"].delivered, each["bad"].failed, each["bad"].dead_lettered) == (0, 6, 2)
    assert (each["full"].delivered, each["full"].dead_lettered) == (1, 1)
    assert (each["drops"].delivered, each["drops"].dropped) == (1, 1)
    assert sum(each["bad"].handler_seconds) == 6  # every attempt is timed
    assert (stats.delivered, stats.failed, stats.dead_lettered, stats.dropped) == (4, 6, 3, 1)


def test_a_subscriber_that_subscribes_again_counts_on() -> None:
    """A component restarted (or rebuilt by a reload) subscribes anew under its name: its counters
    go on from where they were, as a Prometheus counter must."""

    async def scenario() -> int:
        async with MemoryBus() as bus:
            for _ in range(2):
                subscription = await bus.subscribe("t", lambda e: None, subscriber="svc")
                await bus.publish("t")
                await until(lambda: bus.statistics().queue_depths["svc"] == 0)
                await asyncio.sleep(0)
                subscription.cancel()
            return bus.statistics().subscribers["svc"].delivered

    assert run(scenario()) == 2


def test_a_handlers_duration_falls_in_its_bucket() -> None:
    """An async handler awaiting ~30 ms is counted in the first bucket at or above its duration
    (Prometheus' `le`), and its seconds are summed."""

    async def slow(envelope: Envelope) -> None:
        await asyncio.sleep(0.03)

    async def scenario() -> BusStatistics:
        async with MemoryBus() as bus:
            await bus.subscribe("t", slow, subscriber="slow")
            await bus.publish("t")
            await until(lambda: bus.statistics().delivered == 1)
            return bus.statistics()

    stats = run(scenario()).subscribers["slow"]
    bucket = stats.handler_seconds.index(1)
    assert HANDLER_SECONDS_BUCKETS[bucket - 1] < stats.handler_seconds_sum <= HANDLER_SECONDS_BUCKETS[bucket]
    assert 0.03 <= stats.handler_seconds_sum < 1.0


def test_a_retry_cut_off_by_cancelling_the_subscription_is_timed_but_neither_delivered_nor_failed() -> None:
    """``delivered`` is derived from the calls counted: a retry interrupted by the worker's own
    cancellation is a timed call, yet no delivery and no failed attempt."""
    started = asyncio.Event()

    async def fails_then_hangs(envelope: Envelope) -> None:
        if envelope.attempts == 1:
            raise ValueError("first attempt")
        started.set()
        await asyncio.Event().wait()  # until the subscription is cancelled

    async def scenario() -> BusStatistics:
        async with MemoryBus(BusSettings(retry_backoff=0, max_retries=3)) as bus:
            subscription = await bus.subscribe("t", fails_then_hangs, subscriber="svc")
            await bus.publish("t")
            await asyncio.wait_for(started.wait(), 5)
            subscription.cancel()
            await until(lambda: sum(bus.statistics().subscribers["svc"].handler_seconds) == 2)
            return bus.statistics()

    stats = run(scenario()).subscribers["svc"]
    assert (stats.delivered, stats.failed, stats.dead_lettered) == (0, 1, 0)
    assert sum(stats.handler_seconds) == 2  # the failed first attempt and the cut-off retry
