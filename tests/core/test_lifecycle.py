"""The lifecycle: start in dependency order, stop in reverse, roll back a failed start."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import pytest

from framework.component import ComponentSpec
from framework.errors import ComponentStartError
from framework.graph import build_graph
from framework.lifecycle import ComponentState, Lifecycle

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Recorder:
    """Appends ("start" | "stop" | hook, name) to a shared trail; misbehaves on request."""

    def __init__(
        self,
        name: str,
        trail: list[tuple[str, str]],
        *,
        fail_start: bool = False,
        fail_stop: bool = False,
        start_delay: float = 0,
        stop_delay: float = 0,
        stubborn_stop: float = 0,
    ) -> None:
        self.name, self.trail = name, trail
        self.stubborn_stop = stubborn_stop
        self.fail_start, self.fail_stop = fail_start, fail_stop
        self.start_delay, self.stop_delay = start_delay, stop_delay

    async def on_before_start(self) -> None:
        self.trail.append(("before_start", self.name))

    async def start(self) -> None:
        self.trail.append(("start", self.name))
        await asyncio.sleep(self.start_delay)
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot connect")

    def on_after_start(self) -> None:  # hooks may be plain functions
        self.trail.append(("after_start", self.name))

    def on_before_stop(self) -> None:
        self.trail.append(("before_stop", self.name))

    async def stop(self) -> None:
        self.trail.append(("stop", self.name))
        if self.stubborn_stop:
            await ignoring_cancellation(self.stubborn_stop)
            self.trail.append(("stubborn_stop_ended", self.name))
        await asyncio.sleep(self.stop_delay)
        if self.fail_stop:
            raise RuntimeError(f"{self.name} stop exploded")

    async def on_after_stop(self) -> None:
        self.trail.append(("after_stop", self.name))


async def ignoring_cancellation(seconds: float) -> None:
    """Sleep ``seconds``, swallowing every cancellation meanwhile (as careless code does)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            pass


def lifecycle(
    entries: Mapping[str, Mapping[str, Any]],
    trail: list[tuple[str, str]],
    behaviour: Mapping[str, Mapping[str, Any]] | None = None,
    parallel: bool = False,
) -> Lifecycle:
    """A lifecycle whose components are Recorders, registered and ready to start."""
    specs = {
        name: ComponentSpec.from_entry(name, {"class": "x.Y", **entry}, {"start_timeout": 1, "stop_timeout": 1})
        for name, entry in entries.items()
    }
    graph, problems = build_graph(specs, dict.fromkeys(specs))
    assert problems == []
    result = Lifecycle(graph, specs, parallel=parallel)
    for name in graph.order:
        result.register(name, Recorder(name, trail, **(behaviour or {}).get(name, {})))
    return result


CHAIN = {"web": {"depends_on": ["api"]}, "api": {"depends_on": ["db"]}, "db": {}}


def only(trail: list[tuple[str, str]], step: str) -> list[str]:
    return [name for what, name in trail if what == step]


def test_start_follows_dependencies_and_calls_each_hook_in_turn() -> None:
    """Dependencies start first; each component runs before_start, start, after_start."""
    trail: list[tuple[str, str]] = []
    life = lifecycle(CHAIN, trail)
    run(life.start_all())
    assert trail == [
        (step, name)
        for name in ("db", "api", "web")
        for step in ("before_start", "start", "after_start")
    ]
    assert life.states == dict.fromkeys(("db", "api", "web"), ComponentState.RUNNING)


def test_stop_runs_in_reverse_start_order() -> None:
    """stop_all stops dependents before what they depend on, with every stop hook."""
    trail: list[tuple[str, str]] = []
    life = lifecycle(CHAIN, trail)

    async def scenario() -> None:
        await life.start_all()
        trail.clear()
        await life.stop_all()

    run(scenario())
    assert trail == [
        (step, name)
        for name in ("web", "api", "db")
        for step in ("before_stop", "stop", "after_stop")
    ]
    assert set(life.states.values()) == {ComponentState.STOPPED}


def test_transitions_reach_every_listener() -> None:
    """A listener sees each transition with old state, new state and reason."""
    trail: list[tuple[str, str]] = []
    seen: list[tuple[str, str, str, str | None]] = []
    life = lifecycle({"db": {}}, trail)
    life.listeners.append(lambda name, old, new, reason: seen.append((name, old.value, new.value, reason)))
    run(life.start_all())
    assert seen == [("db", "configured", "starting", None), ("db", "starting", "running", None)]


def test_a_failed_start_rolls_back_what_started_in_reverse() -> None:
    """When one start fails, the ones already running stop in reverse order; later ones never start."""
    trail: list[tuple[str, str]] = []
    entries = {**CHAIN, "late": {"depends_on": ["web"]}}
    life = lifecycle(entries, trail, {"web": {"fail_start": True}})
    with pytest.raises(ComponentStartError) as caught:
        run(life.start_all())
    assert caught.value.component == "web"
    assert str(caught.value) == "component 'web' failed to start: RuntimeError: web cannot connect"
    assert only(trail, "start") == ["db", "api", "web"]
    assert only(trail, "stop") == ["api", "db"]  # web never ran: it is not stopped
    assert life.states == {
        "db": ComponentState.STOPPED,
        "api": ComponentState.STOPPED,
        "web": ComponentState.FAILED,
        "late": ComponentState.CONFIGURED,
    }
    assert life.reasons["web"] == "RuntimeError: web cannot connect"


def test_a_start_past_its_timeout_fails_and_rolls_back() -> None:
    """A start that outlasts start_timeout is cancelled, reported as such, and what started stops."""
    trail: list[tuple[str, str]] = []
    life = lifecycle({"db": {}, "api": {"depends_on": ["db"], "start_timeout": 0.05}}, trail, {"api": {"start_delay": 5}})
    with pytest.raises(ComponentStartError, match=r"start did not finish within 0\.05 s \(start_timeout\)"):
        run(asyncio.wait_for(life.start_all(), 2))
    assert life.states["api"] is ComponentState.FAILED
    assert only(trail, "stop") == ["db"]


def test_a_stop_that_raises_does_not_keep_the_others_from_stopping() -> None:
    """A stop that raises leaves that component failed, with the cause; the rest still stop."""
    trail: list[tuple[str, str]] = []
    life = lifecycle(CHAIN, trail, {"api": {"fail_stop": True}})

    async def scenario() -> None:
        await life.start_all()
        await life.stop_all()  # does not raise

    run(scenario())
    assert only(trail, "stop") == ["web", "api", "db"]
    assert ("after_stop", "api") not in trail
    assert life.states["api"] is ComponentState.FAILED
    assert life.reasons["api"] == "stop raised RuntimeError: api stop exploded"
    assert life.states["db"] is ComponentState.STOPPED


def test_a_stop_past_its_timeout_fails_and_the_rest_still_stop() -> None:
    """A hanging stop is cut at stop_timeout; what it depends on is stopped after it."""
    trail: list[tuple[str, str]] = []
    entries = {"db": {}, "api": {"depends_on": ["db"], "stop_timeout": 0.05}}
    life = lifecycle(entries, trail, {"api": {"stop_delay": 5}})

    async def scenario() -> None:
        await life.start_all()
        await asyncio.wait_for(life.stop_all(), 2)

    run(scenario())
    assert life.states == {"db": ComponentState.STOPPED, "api": ComponentState.FAILED}
    assert life.reasons["api"] == "stop did not finish within 0.05 s"


def test_a_stop_that_ignores_cancellation_is_abandoned_at_its_timeout() -> None:
    """A stop hook that swallows its cancellation does not hold the rest up past stop_timeout:
    it is left behind, still running, while the others stop."""
    trail: list[tuple[str, str]] = []
    entries = {"db": {}, "api": {"depends_on": ["db"], "stop_timeout": 0.05}}
    life = lifecycle(entries, trail, {"api": {"stubborn_stop": 1.0}})

    async def scenario() -> list[tuple[str, str]]:
        await life.start_all()
        await life.stop_all()
        seen = list(trail)
        await asyncio.sleep(1.2)  # the abandoned hook ends on its own
        return seen

    seen = run(scenario())
    assert ("stop", "db") in seen and ("stubborn_stop_ended", "api") not in seen
    assert ("stubborn_stop_ended", "api") in trail
    assert life.states == {"db": ComponentState.STOPPED, "api": ComponentState.FAILED}
    assert life.reasons["api"] == "stop did not finish within 0.05 s"


def test_a_rollback_survives_a_stop_that_raises() -> None:
    """During a rollback, a failing stop is recorded and the original start error is raised."""
    trail: list[tuple[str, str]] = []
    life = lifecycle(CHAIN, trail, {"api": {"fail_stop": True}, "web": {"fail_start": True}})
    with pytest.raises(ComponentStartError, match="'web' failed to start"):
        run(life.start_all())
    assert only(trail, "stop") == ["api", "db"]
    assert life.states["api"] is ComponentState.FAILED and life.states["db"] is ComponentState.STOPPED


def test_an_optional_component_that_fails_leaves_its_dependents_waiting() -> None:
    """An optional failure does not stop the app: its dependents are left failed, saying why."""
    trail: list[tuple[str, str]] = []
    entries = {"db": {}, "cache": {"optional": True}, "api": {"depends_on": ["cache"]}, "web": {"depends_on": ["db"]}}
    life = lifecycle(entries, trail, {"cache": {"fail_start": True}})
    run(life.start_all())
    assert only(trail, "start") == ["db", "cache", "web"]
    assert life.failed == ["cache", "api"]
    assert life.reasons["api"] == "not started: depends on 'cache', which is not running"
    assert life.states["web"] is ComponentState.RUNNING


def test_parallel_start_runs_a_wave_concurrently() -> None:
    """Independent components start together: two that wait for each other both start."""
    trail: list[tuple[str, str]] = []
    life = lifecycle({"a": {}, "b": {}, "c": {"depends_on": ["a", "b"]}}, trail, parallel=True)

    async def scenario() -> None:
        barrier = asyncio.Barrier(2)

        async def meet() -> None:
            await asyncio.wait_for(barrier.wait(), 0.5)  # only passes when a and b start together

        life.instances["a"].on_before_start = meet
        life.instances["b"].on_before_start = meet
        await life.start_all()

    run(scenario())
    started = only(trail, "start")
    assert sorted(started[:2]) == ["a", "b"] and started[2] == "c"  # a and b in either order
    assert set(life.states.values()) == {ComponentState.RUNNING}


def test_parallel_start_failure_stops_the_rest_of_its_wave_and_earlier_waves() -> None:
    """One failure in a wave stops every component that started, in reverse order, and raises."""
    trail: list[tuple[str, str]] = []
    entries = {"root": {}, "a": {"depends_on": ["root"]}, "b": {"depends_on": ["root"]}, "top": {"depends_on": ["a"]}}
    life = lifecycle(entries, trail, {"b": {"fail_start": True}}, parallel=True)
    with pytest.raises(ComponentStartError, match="'b' failed to start"):
        run(life.start_all())
    assert only(trail, "stop") == ["a", "root"]
    assert life.states["top"] is ComponentState.CONFIGURED


def test_cancelling_start_all_rolls_back_what_started() -> None:
    """A cancel during start-up (a signal) stops what already runs, then propagates."""
    trail: list[tuple[str, str]] = []
    life = lifecycle(CHAIN, trail, {"api": {"start_delay": 5}})

    async def scenario() -> None:
        task = asyncio.ensure_future(life.start_all())
        while ("start", "api") not in trail:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())
    assert only(trail, "stop") == ["db"]
    assert life.states["api"] is ComponentState.FAILED
    assert life.reasons["api"] == "start cancelled"


def test_a_restarted_component_keeps_its_place_in_the_stop_order() -> None:
    """Stopping and starting one component again does not move it to the end of the stop order."""
    trail: list[tuple[str, str]] = []
    life = lifecycle(CHAIN, trail)

    async def scenario() -> None:
        await life.start_all()
        await life.stop("db")
        await life.start("db")
        trail.clear()
        await life.stop_all()

    run(scenario())
    assert only(trail, "stop") == ["web", "api", "db"]


def test_stopping_a_component_that_is_not_running_does_nothing() -> None:
    """stop() of a configured, never-started component calls no hook and keeps its state."""
    trail: list[tuple[str, str]] = []
    life = lifecycle({"db": {}}, trail)
    run(life.stop("db"))
    assert trail == []
    assert life.states["db"] is ComponentState.CONFIGURED


def test_register_takes_an_instance_and_optionally_a_new_spec() -> None:
    """register() sets the instance and state; with a spec, the new timeouts apply."""
    trail: list[tuple[str, str]] = []
    life = lifecycle({"db": {}}, trail)
    slow = Recorder("db", trail, start_delay=5)
    life.register("db", slow)
    assert life.instances["db"] is slow and life.states["db"] is ComponentState.CONFIGURED
    assert life.specs["db"].start_timeout == 1
    quick = ComponentSpec.from_entry("db", {"class": "x.Y", "start_timeout": 0.05}, {})
    life.register("db", slow, quick)
    assert life.specs["db"] is quick
    with pytest.raises(ComponentStartError, match=r"within 0\.05 s"):
        run(asyncio.wait_for(life.start("db"), 2))


def test_adopt_forgets_components_the_new_graph_drops() -> None:
    """adopt() takes a new graph and specs; a component not in it loses its instance and state."""
    trail: list[tuple[str, str]] = []
    life = lifecycle(CHAIN, trail)
    smaller = lifecycle({"db": {}, "api": {"depends_on": ["db"]}}, [])
    life.adopt(smaller.graph, smaller.specs)
    assert set(life.instances) == set(life.states) == {"db", "api"}
    assert set(life.specs) == {"db", "api"}
