"""The bus's failure listener: told of each failed handler attempt and each dead letter, on memory,
Redis (a forged entry included) and RabbitMQ, and never able to break delivery by raising."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from framework.events.failures import Failure
from framework.events.memory import MemoryBus
from framework.events.rabbitmq.bus import RabbitBus
from framework.events.redis.bus import RedisBus
from framework.events.settings import BusSettings
from tests.events.conftest import RabbitNames, run, until

Settings = Callable[..., BusSettings]


def failing(event: Any) -> None:
    raise ValueError(f"bad order {event.data['id']}")


def test_memory_reports_each_failed_attempt_then_the_dead_letter() -> None:
    """Two retries: attempts 1 and 2 are not final, 3 is; then the dead letter, same correlation id."""
    failures: list[Failure] = []

    async def scenario() -> None:
        async with MemoryBus(BusSettings(max_retries=2, retry_backoff=0.001)) as bus:
            bus.failure_listener = failures.append
            await bus.subscribe("orders.*", failing, subscriber="books")
            await bus.publish("orders.new", {"id": 3}, correlation_id="c-3")
            await until(lambda: len(failures) == 4, what="three attempts and a dead letter")

    run(scenario())
    handler = [(f.kind, f.count, f.final) for f in failures]
    assert handler == [("handler", 1, False), ("handler", 2, False), ("handler", 3, True), ("dead_letter", 3, True)]
    assert {(f.subscriber, f.topic, f.correlation_id) for f in failures} == {("books", "orders.new", "c-3")}
    assert failures[0].cause == "ValueError: bad order 3"
    assert failures[-1].reason == "handler_failed" and failures[-1].cause.startswith("3 attempt(s) failed")


def test_a_listener_that_raises_does_not_stop_delivery() -> None:
    """The listener's exception is logged; the dead letter is stored and the next event delivered."""
    got: list[Any] = []

    def broken(failure: Failure) -> None:
        raise RuntimeError("listener down")

    async def scenario() -> int:
        async with MemoryBus(BusSettings(max_retries=0)) as bus:
            bus.failure_listener = broken
            await bus.subscribe("orders.*", lambda e: failing(e) if e.data["id"] == 1 else got.append(e.data))
            await bus.publish("orders.new", {"id": 1})
            await bus.publish("orders.new", {"id": 2})
            await until(lambda: got == [{"id": 2}], what="the second event")
            return len(await bus.dead_letters())

    assert run(scenario()) == 1


@pytest.mark.redis
def test_redis_reports_handler_failures_and_every_dead_letter(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """A failing handler: one final attempt and its dead letter. An unsigned entry XADDed into the
    stream: a dead letter with no topic (it is no event of this bus)."""
    failures: list[Failure] = []

    async def scenario() -> None:
        async with RedisBus(redis_settings()) as bus:
            bus.failure_listener = failures.append
            await bus.subscribe("orders.*", failing, subscriber="books")
            await bus.publish("orders.new", {"id": 5}, correlation_id="c-5")
            await until(lambda: len(failures) == 2, timeout=5, what="the failure and its dead letter")
            raw_redis.xadd(f"{prefix}:orders.new", {"forged": "1"})
            await until(lambda: len(failures) == 3, timeout=5, what="the forged entry's dead letter")

    run(scenario())
    assert [(f.kind, f.subscriber, f.topic, f.correlation_id, f.final) for f in failures[:2]] == [
        ("handler", "books", "orders.new", "c-5", True),
        ("dead_letter", "books", "orders.new", "c-5", True),
    ]
    forged = failures[2]
    assert (forged.kind, forged.subscriber, forged.topic, forged.reason) == ("dead_letter", "books", "", "undecodable")


@pytest.mark.rabbitmq
def test_rabbitmq_reports_handler_failures_and_every_dead_letter(exchange: RabbitNames) -> None:
    """As on Redis: the final failed attempt, then its dead letter, both told to the listener."""
    failures: list[Failure] = []

    async def scenario() -> None:
        async with exchange.track(RabbitBus(exchange.settings())) as bus:
            bus.failure_listener = failures.append
            await bus.subscribe("orders.*", failing, subscriber="books")
            await bus.publish("orders.new", {"id": 5}, correlation_id="c-5")
            await until(lambda: len(failures) == 2, timeout=10, what="the failure and its dead letter")

    run(scenario(), timeout=30)
    assert [(f.kind, f.subscriber, f.topic, f.correlation_id, f.final) for f in failures] == [
        ("handler", "books", "orders.new", "c-5", True),
        ("dead_letter", "books", "orders.new", "c-5", True),
    ]
