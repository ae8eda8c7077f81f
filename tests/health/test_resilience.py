"""Retry, circuit breaker and fallback wrappers, in process, with settings read at call time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from framework.events.factory import create_bus
from framework.resilience import BreakerState, CircuitOpenError, Resilience


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def settings(**sections: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "retry": {"attempts": 3, "initial_delay": 0, "max_delay": 0, "jitter": 0},
        "breaker": {"failure_threshold": 2, "reset_timeout": 10.0},
        "breakers": {},
        **sections,
    }


class Flaky:
    """Fails the first ``failures`` calls, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def __call__(self, value: int = 1) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"call {self.calls} failed")
        return value


def test_retry_succeeds_after_failures() -> None:
    """A call failing twice succeeds on the third attempt; retries are counted."""
    resilience = Resilience(lambda: settings())
    flaky = Flaky(2)
    assert asyncio.run(resilience.retry(flaky)(7)) == 7
    assert flaky.calls == 3 and resilience.retries == 2


def test_retry_reads_attempts_at_call_time() -> None:
    """Changing error_handling.retry.attempts (a reload) changes the next call, same wrapper."""
    current = settings()
    resilience = Resilience(lambda: current)
    flaky = Flaky(5)
    wrapped = resilience.retry(flaky)
    with pytest.raises(ConnectionError, match="call 3 failed"):
        asyncio.run(wrapped())
    current = settings(retry={"attempts": 5, "initial_delay": 0, "max_delay": 0, "jitter": 0})
    flaky.calls = 0
    with pytest.raises(ConnectionError, match="call 5 failed"):
        asyncio.run(wrapped())


def test_retry_only_retries_the_named_errors() -> None:
    """An error outside retry_on is raised at once."""
    resilience = Resilience(lambda: settings())
    flaky = Flaky(1)
    with pytest.raises(ConnectionError):
        asyncio.run(resilience.retry(flaky, retry_on=(TimeoutError,))())
    assert flaky.calls == 1


def test_breaker_opens_half_opens_and_closes_publishing_each_change() -> None:
    """Two failures open it, calls are refused, after reset_timeout one trial closes it; each change is published."""
    clock, published = Clock(), []
    resilience = Resilience(lambda: settings(), lambda topic, data: published.append((topic, dict(data))))
    breaker = resilience.breaker("db")
    breaker._clock = clock
    flaky = Flaky(2)
    guarded = breaker(flaky)

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(ConnectionError):
                await guarded()
        assert breaker.state is BreakerState.OPEN
        with pytest.raises(CircuitOpenError, match="circuit breaker 'db' is open .* another 10.0 s"):
            await guarded()
        assert flaky.calls == 2  # refused without calling
        clock.now = 10.0
        assert breaker.state is BreakerState.HALF_OPEN
        assert await guarded(3) == 3
        assert breaker.state is BreakerState.CLOSED

    asyncio.run(scenario())
    assert [topic for topic, _ in published] == [
        "system.breaker.open",
        "system.breaker.half_open",
        "system.breaker.closed",
    ]
    assert published[0][1]["breaker"] == "db" and published[0][1]["previous"] == "closed"
    stats = breaker.statistics()
    assert (stats.rejected, stats.opened, stats.calls) == (1, 1, 3)


def test_failed_trial_opens_again_and_only_one_trial_runs() -> None:
    """In half-open a failing trial reopens the breaker, and a second concurrent call is refused."""
    clock = Clock()
    resilience = Resilience(lambda: settings(breaker={"failure_threshold": 1, "reset_timeout": 1.0}))
    breaker = resilience.breaker("api")
    breaker._clock = clock
    gate = asyncio.Event()

    async def slow_failure() -> None:
        await gate.wait()
        raise ConnectionError("still down")

    async def scenario() -> None:
        with pytest.raises(ConnectionError):
            await breaker.call(Flaky(1))
        clock.now = 1.0
        trial = asyncio.create_task(breaker.call(slow_failure))
        await asyncio.sleep(0)
        with pytest.raises(CircuitOpenError, match="a trial call is in flight"):
            await breaker.call(Flaky(0))
        gate.set()
        with pytest.raises(ConnectionError):
            await trial
        assert breaker.state is BreakerState.OPEN

    asyncio.run(scenario())


def test_named_breaker_settings_override_the_default() -> None:
    """error_handling.breakers.<name> overrides the default for that breaker only."""
    resilience = Resilience(lambda: settings(breakers={"strict": {"failure_threshold": 1}}))

    async def scenario() -> None:
        with pytest.raises(ConnectionError):
            await resilience.breaker("strict").call(Flaky(1))
        with pytest.raises(ConnectionError):
            await resilience.breaker("lenient").call(Flaky(1))

    asyncio.run(scenario())
    assert resilience.breaker("strict").state is BreakerState.OPEN
    assert resilience.breaker("lenient").state is BreakerState.CLOSED
    assert resilience.settings.breaker_for("strict").reset_timeout == 10.0


def test_retry_does_not_hammer_an_open_breaker() -> None:
    """A retried call through an open breaker fails at once with CircuitOpenError."""
    resilience = Resilience(lambda: settings(breaker={"failure_threshold": 1, "reset_timeout": 60}))
    flaky = Flaky(10)
    wrapped = resilience.retry(resilience.breaker("x")(flaky))
    with pytest.raises(CircuitOpenError):
        asyncio.run(wrapped())
    assert flaky.calls == 1 and resilience.retries == 1


def test_fallback_returns_the_value_or_the_factory_result() -> None:
    """A failing call returns the fallback value (or factory(error)); a working one its own result."""
    resilience = Resilience(lambda: settings())
    assert asyncio.run(resilience.fallback(Flaky(1), 0)()) == 0
    assert asyncio.run(resilience.fallback(Flaky(1), factory=lambda exc: str(exc))()) == "call 1 failed"
    assert asyncio.run(resilience.fallback(Flaky(0), 0)(5)) == 5
    assert resilience.fallbacks == 2


def test_breaker_changes_reach_the_bus() -> None:
    """Through the app's publish path, breaker transitions arrive on the bus as system.breaker.* events."""

    async def scenario() -> list[str]:
        bus = create_bus({"backend": "memory"})
        seen: list[str] = []
        async with bus:
            await bus.subscribe("system.breaker.*", lambda event: seen.append(event.data["state"]))
            tasks: set[asyncio.Task[Any]] = set()

            def publish(topic: str, data: Mapping[str, Any]) -> None:
                tasks.add(asyncio.create_task(bus.publish(topic, dict(data), source="app")))

            resilience = Resilience(
                lambda: settings(breaker={"failure_threshold": 1, "reset_timeout": 0.05}), publish
            )
            breaker = resilience.breaker("feed")
            with pytest.raises(ConnectionError):
                await breaker.call(Flaky(1))
            await asyncio.sleep(0.06)
            await breaker.call(Flaky(0))
            await asyncio.gather(*tasks)
            await asyncio.sleep(0.01)
        return seen

    assert asyncio.run(scenario()) == ["open", "half_open", "closed"]
