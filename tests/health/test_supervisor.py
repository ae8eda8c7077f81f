"""The supervisor on a real Lifecycle and HealthMonitor: restarts with backoff, giving up, dependents."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loguru import logger

from framework.component import ComponentSpec
from framework.graph import build_graph
from framework.health import HealthMonitor, HealthStatus
from framework.lifecycle import ComponentState, Lifecycle
from framework.supervisor import Supervisor

SETTINGS = {"timeout": 0.5, "failure_threshold": 2, "max_restarts": 2, "backoff": 0.02, "max_backoff": 0.03}


class Service:
    """A component whose health() answers its ``status``; counts its starts and stops."""

    def __init__(self, status: str = "healthy") -> None:
        self.status = status
        self.starts = self.stops = 0

    async def start(self) -> None:
        self.starts += 1

    async def stop(self) -> None:
        self.stops += 1

    def health(self) -> str:
        return self.status


class Healing(Service):
    """Unhealthy until it has been restarted once."""

    def health(self) -> str:
        return "unhealthy" if self.starts < 2 else "healthy"


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    """The bound fields of every loguru record written while the test runs."""
    seen: list[dict[str, Any]] = []
    handler = logger.add(lambda message: seen.append(dict(message.record["extra"])), level=0)
    yield seen
    logger.remove(handler)


def events(logged: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [fields for fields in logged if fields.get("event") == event]


async def supervised(
    components: dict[str, Service], depends: dict[str, list[str]] | None = None, **settings: Any
) -> tuple[Lifecycle, HealthMonitor, Supervisor]:
    """Start the components on a real lifecycle, with a monitor and a started supervisor."""
    entries = {n: {"class": "x.Y", "depends_on": (depends or {}).get(n, [])} for n in components}
    specs = {n: ComponentSpec.from_entry(n, entry, {}) for n, entry in entries.items()}
    graph, problems = build_graph(specs, {})
    assert not problems
    life = Lifecycle(graph, specs)
    for name, instance in components.items():
        life.register(name, instance)
    await life.start_all()
    monitor = HealthMonitor(life, lambda: {**SETTINGS, **settings})
    supervisor = Supervisor(life, monitor)
    await supervisor.start()
    return life, monitor, supervisor


async def rounds(monitor: HealthMonitor, until: Callable[[], bool], limit: int = 200) -> None:
    """Run health rounds (letting restarts run between them) until ``until()`` holds."""
    for _ in range(limit):
        await monitor.check()
        if until():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"not reached after {limit} rounds")


async def settle(until: Callable[[], bool]) -> None:
    for _ in range(200):
        if until():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not reached")


def test_restarts_with_doubling_delays_then_gives_up(logged: list[dict[str, Any]]) -> None:
    """A component that stays unhealthy is restarted with doubling, capped delays, then left failed."""

    async def scenario() -> None:
        source, sink = Service("unhealthy"), Service()
        life, monitor, supervisor = await supervised({"source": source, "sink": sink}, {"sink": ["source"]})
        await rounds(monitor, lambda: life.states["source"] is ComponentState.FAILED)
        for _ in range(10):  # no restart storm once it gave up
            await monitor.check()
            await asyncio.sleep(0.005)
        record = monitor.records["source"]
        assert (source.starts, record.restarts, record.gave_up) == (3, 2, True)
        assert life.reasons["source"] == "gave up after 2 restart(s) (health.max_restarts=2); last: unhealthy"
        assert (life.states["sink"], sink.stops) == (ComponentState.DEGRADED, 0)
        await supervisor.stop()

    asyncio.run(scenario())
    scheduled = events(logged, "health.restart_scheduled")
    assert [(e["subject"], e["attempt"], e["delay"]) for e in scheduled] == [
        ("source", 1, 0.02),
        ("source", 2, 0.03),
    ]
    assert len(events(logged, "health.restarted")) == 2
    assert [e["subject"] for e in events(logged, "health.gave_up")] == ["source"]


def test_a_restart_that_heals_brings_dependents_back() -> None:
    """While a component awaits its restart its dependents are degraded, saying why; then they run again."""

    async def scenario() -> None:
        source, sink = Healing(), Service()
        life, monitor, supervisor = await supervised(
            {"source": source, "sink": sink}, {"sink": ["source"]}, failure_threshold=1, backoff=0.2
        )
        await monitor.check()
        assert life.states["sink"] is ComponentState.DEGRADED
        assert life.reasons["sink"] == "dependency 'source' is unhealthy"
        await monitor.check()
        sink_health = monitor.records["sink"]
        assert sink_health.status is HealthStatus.DEGRADED
        assert sink_health.details["reason"] == "waits for source"
        await rounds(monitor, lambda: life.states["sink"] is ComponentState.RUNNING)
        assert life.reasons["sink"] == "dependency 'source' recovered"
        assert (source.starts, sink.starts, sink.stops) == (2, 1, 0)
        assert monitor.records["source"].restarts == 1 and monitor.records["source"].failures == 0
        await supervisor.stop()

    asyncio.run(scenario())


def test_a_component_whose_dependency_is_down_is_not_restarted() -> None:
    """Restarting a component whose dependency is not running would not help: it is left alone."""

    async def scenario() -> None:
        source, sink = Service("unhealthy"), Service()
        sink.health = lambda: "unhealthy" if source.stops else "healthy"  # type: ignore[method-assign]
        life, monitor, supervisor = await supervised(
            {"source": source, "sink": sink}, {"sink": ["source"]}, max_restarts=0
        )
        await rounds(monitor, lambda: life.states["source"] is ComponentState.FAILED)
        await rounds(monitor, lambda: monitor.records["sink"].failures >= 5)
        record = monitor.records["sink"]
        assert (sink.starts, record.restarts, record.gave_up) == (1, 0, False)
        await supervisor.stop()

    asyncio.run(scenario())


def test_the_restart_count_resets_once_the_component_is_stable() -> None:
    """Healthy for health.stable_after after a restart, a component gets its full restart budget back."""

    async def scenario() -> None:
        source = Service("unhealthy")
        life, monitor, supervisor = await supervised(
            {"source": source}, failure_threshold=1, max_restarts=1, backoff=0, stable_after=0
        )
        await monitor.check()
        record = monitor.records["source"]
        await settle(lambda: source.starts == 2 and not record.restarting)
        source.status = "healthy"
        await monitor.check()
        assert record.restarts == 0
        source.status = "unhealthy"
        await monitor.check()
        await settle(lambda: source.starts == 3 and not record.restarting)
        assert (record.restarts, record.gave_up, life.states["source"]) == (1, False, ComponentState.RUNNING)
        await supervisor.stop()

    asyncio.run(scenario())


def test_a_component_started_by_someone_else_gets_a_clean_slate() -> None:
    """Once given up on, a component started again (by a reload, say) is supervised afresh."""

    async def scenario() -> None:
        source, sink = Service("unhealthy"), Service()
        life, monitor, supervisor = await supervised(
            {"source": source, "sink": sink}, {"sink": ["source"]}, max_restarts=0
        )
        await rounds(monitor, lambda: life.states["source"] is ComponentState.FAILED)
        record = monitor.records["source"]
        assert record.gave_up
        source.status = "healthy"
        await life.start("source")
        assert (record.gave_up, record.failures) == (False, 0)
        await rounds(monitor, lambda: life.states["sink"] is ComponentState.RUNNING)
        await supervisor.stop()

    asyncio.run(scenario())


def test_stop_cancels_a_pending_restart_and_stops_listening() -> None:
    """After stop() no check counts toward a restart and a scheduled restart never happens."""

    async def scenario() -> None:
        source = Service("unhealthy")
        life, monitor, supervisor = await supervised({"source": source}, failure_threshold=1, backoff=10)
        await monitor.check()
        assert monitor.records["source"].restarting
        await asyncio.wait_for(supervisor.stop(), timeout=2)
        assert life.listeners == [] and not supervisor.running
        failures = monitor.records["source"].failures
        for _ in range(5):
            await monitor.check()
        assert monitor.records["source"].failures == failures
        assert (source.starts, life.states["source"]) == (1, ComponentState.RUNNING)

    asyncio.run(scenario())


def test_nothing_is_restarted_while_a_shared_dependency_is_down() -> None:
    """While a check added with add_check fails (the bus, say) the app is not ready, failed checks of
    components do not count and nothing restarts; once it is back, supervision goes on as before."""

    async def scenario() -> None:
        source = Service("unhealthy")
        bus = {"status": "unhealthy", "error": "Redis at 127.0.0.1:1 unreachable"}
        life, monitor, supervisor = await supervised({"source": source}, failure_threshold=1, backoff=0)
        monitor.add_check("event_bus", lambda: bus)
        for _ in range(5):
            await monitor.check()
            await asyncio.sleep(0.005)
        record = monitor.records["source"]
        assert (source.starts, record.failures, record.restarts) == (1, 0, 0)
        assert monitor.failing_checks() == ["event_bus"]
        assert monitor.readiness().reasons == (
            "event_bus is unhealthy: Redis at 127.0.0.1:1 unreachable",
            "source is unhealthy: None",
        )
        assert monitor.report()["checks"]["event_bus"]["status"] == "unhealthy"
        bus = {"status": "healthy"}
        await monitor.check()
        await settle(lambda: source.starts == 2 and not record.restarting)
        assert monitor.failing_checks() == [] and record.restarts == 1
        await supervisor.stop()

    asyncio.run(scenario())
