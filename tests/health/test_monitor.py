"""The health monitor, in process, on a real Lifecycle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from framework.component import ComponentSpec
from framework.graph import build_graph
from framework.health import HealthMonitor, HealthReport, HealthStatus
from framework.lifecycle import Lifecycle

SETTINGS = {"interval": 0.01, "timeout": 0.05, "failure_threshold": 2, "max_restarts": 1, "backoff": 0.01}


class Component:
    def __init__(self, check: Any = None) -> None:
        self.check = check
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1

    async def stop(self) -> None:
        pass


def lifecycle(components: dict[str, Any], optional: tuple[str, ...] = ()) -> Lifecycle:
    entries = {name: {"class": "x.Y", "optional": name in optional} for name in components}
    specs = {name: ComponentSpec.from_entry(name, entry, {}) for name, entry in entries.items()}
    graph, problems = build_graph(specs, {})
    assert not problems
    result = Lifecycle(graph, specs)
    for name, instance in components.items():
        result.register(name, instance)
    return result


@pytest.mark.parametrize(
    ("value", "status", "details"),
    [
        (None, HealthStatus.HEALTHY, {}),
        (True, HealthStatus.HEALTHY, {}),
        (False, HealthStatus.UNHEALTHY, {}),
        ("DEGRADED", HealthStatus.DEGRADED, {}),
        ({"status": "unhealthy", "lag": 3}, HealthStatus.UNHEALTHY, {"lag": 3}),
        (("healthy", {"n": 1}), HealthStatus.HEALTHY, {"n": 1}),
    ],
)
def test_report_normalizes_what_health_returns(value: Any, status: HealthStatus, details: dict) -> None:
    """health() may return a status, a string, a bool, None, a dict or a (status, details) pair."""
    report = HealthReport.of(value)
    assert (report.status, dict(report.details)) == (status, details)


def test_an_unexpected_return_value_is_unhealthy_saying_why() -> None:
    """A health() returning something unusable is unhealthy, naming the value and what is accepted."""
    report = HealthReport.of(42)
    assert report.status is HealthStatus.UNHEALTHY
    assert "health() returned 42; expected a HealthStatus" in report.details["error"]


def test_a_check_that_ignores_cancellation_does_not_block_the_monitor() -> None:
    """A hung async check that swallows cancellation is reported, and not called again while it hangs."""
    calls, released = 0, False

    async def stubborn() -> str:
        nonlocal calls
        calls += 1
        while not released:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue
        return "healthy"

    async def scenario() -> list[str]:
        nonlocal released
        component = Component()
        component.health = stubborn  # type: ignore[attr-defined]
        life = lifecycle({"a": component})
        await life.start_all()
        monitor = HealthMonitor(life, lambda: {**SETTINGS, "failure_threshold": 100})
        errors = []
        for _ in range(3):
            started = time.monotonic()
            await monitor.check()
            assert time.monotonic() - started < 0.5
            errors.append(monitor.records["a"].details["error"])
        released = True
        return errors

    errors = asyncio.run(scenario())
    assert errors[0] == "health() did not answer within 0.05 s (health.timeout)"
    assert errors[1].startswith("the previous health() call has not returned yet (hung)")
    assert calls == 1


def test_a_slow_plain_check_is_unhealthy_and_says_it_blocks_the_loop() -> None:
    """A sync check slower than the timeout counts as unhealthy and says how to fix it."""

    def slow() -> str:
        time.sleep(0.08)
        return "healthy"

    async def scenario() -> str:
        component = Component()
        component.health = slow  # type: ignore[attr-defined]
        life = lifecycle({"a": component})
        await life.start_all()
        monitor = HealthMonitor(life, lambda: SETTINGS)
        await monitor.check()
        return str(monitor.records["a"].details["error"])

    assert "blocks the event loop: make it async or quicker" in asyncio.run(scenario())


def test_optional_components_do_not_gate_readiness() -> None:
    """An unhealthy optional component makes the app degraded, not unready; a required one makes it unready."""

    async def scenario() -> tuple[bool, str, bool, str]:
        sick = Component()
        sick.health = lambda: "unhealthy"  # type: ignore[attr-defined]
        life = lifecycle({"extra": sick, "core": Component()}, optional=("extra",))
        await life.start_all()
        monitor = HealthMonitor(life, lambda: {**SETTINGS, "failure_threshold": 100})
        await monitor.check()
        first = (monitor.readiness().ok, monitor.status.value)
        life.specs["extra"] = ComponentSpec.from_entry("extra", {"class": "x.Y"}, {})
        await monitor.check()
        return (*first, monitor.readiness().ok, monitor.status.value)

    assert asyncio.run(scenario()) == (True, "degraded", False, "unhealthy")


def test_transitions_are_published_and_kept_in_history() -> None:
    """Each status change is published as system.health.changed and kept, component and app alike."""
    published: list[tuple[str, dict]] = []

    async def scenario() -> HealthMonitor:
        state = {"value": "healthy"}
        component = Component()
        component.health = lambda: state["value"]  # type: ignore[attr-defined]
        life = lifecycle({"a": component})
        await life.start_all()
        monitor = HealthMonitor(
            life,
            lambda: {**SETTINGS, "failure_threshold": 100},
            lambda topic, data: published.append((topic, dict(data))),
        )
        await monitor.check()
        state["value"] = "degraded"
        await monitor.check()
        return monitor

    monitor = asyncio.run(scenario())
    assert [(t, d["scope"], d["status"]) for t, d in published] == [
        ("system.health.changed", "component", "degraded"),
        ("system.health.changed", "app", "degraded"),
    ]
    assert [c.status for c in monitor.history()] == [HealthStatus.DEGRADED, HealthStatus.DEGRADED]


def test_listeners_get_every_record_until_undone() -> None:
    """add_listener hands each component's record to the listener after every check; the undo stops it."""
    heard: list[tuple[str, HealthStatus]] = []

    async def scenario() -> None:
        life = lifecycle({"a": Component(), "b": Component()})
        await life.start_all()
        monitor = HealthMonitor(life, lambda: SETTINGS)
        undo = monitor.add_listener(lambda record: heard.append((record.name, record.status)))
        await monitor.check()
        await monitor.check()
        undo()
        undo()  # a second undo is harmless
        await monitor.check()

    asyncio.run(scenario())
    assert heard == [("a", HealthStatus.HEALTHY), ("b", HealthStatus.HEALTHY)] * 2


def test_a_timeout_raised_by_the_check_itself_is_not_taken_for_a_hang() -> None:
    """A health() that raises TimeoutError is reported as raising it, plain or async."""

    def plain() -> str:
        raise TimeoutError("upstream slow")

    async def asynchronous() -> str:
        raise TimeoutError("upstream slow")

    async def scenario() -> list[str]:
        first, second = Component(), Component()
        first.health, second.health = plain, asynchronous  # type: ignore[attr-defined]
        life = lifecycle({"a": first, "b": second})
        await life.start_all()
        monitor = HealthMonitor(life, lambda: SETTINGS)
        await monitor.check()
        await monitor.check()
        return [str(monitor.records[name].details["error"]) for name in ("a", "b")]

    assert asyncio.run(scenario()) == ["health() raised TimeoutError: upstream slow"] * 2
