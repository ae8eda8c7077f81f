"""Lifecycle: component states, ordered start and stop, rollback on a failed start.

Start follows the dependency order (or waves of independent components when parallel);
stop is the reverse, each bounded by its timeout (hooks still running then are abandoned, not
awaited: one that ignores cancellation holds nothing up), and one failing stop never keeps the
others from stopping. If a start fails, everything already started is stopped in reverse.
The lifecycle owns the tasks a component spawns (``framework.tasks``): it cancels them after
the component's stop hooks, or when its start fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from framework.bounded import within
from framework.callbacks import call_maybe_async
from framework.component import ComponentSpec
from framework.errors import ComponentStartError
from framework.graph import Graph
from framework.tasks import ComponentTasks


class ComponentState(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


ACTIVE = (ComponentState.STARTING, ComponentState.RUNNING, ComponentState.DEGRADED)
# Called on every transition: (component, old state, new state, reason or None).
TransitionListener = Callable[[str, ComponentState, ComponentState, str | None], None]


async def call_hook(instance: Any, hook: str, *args: Any) -> None:
    """Call an optional sync or async hook."""
    method = getattr(instance, hook, None)
    if method is not None:
        await call_maybe_async(method, *args)


class Lifecycle:
    """States and start/stop of the built components of one app."""

    def __init__(
        self,
        graph: Graph,
        specs: Mapping[str, ComponentSpec],
        listeners: list[TransitionListener] | None = None,
        parallel: bool = False,
    ) -> None:
        self.graph = graph
        self.specs = dict(specs)
        self.instances: dict[str, Any] = {}
        self.states = {name: ComponentState.CREATED for name in graph.order}
        self.listeners = listeners or []
        self.parallel = parallel
        # Held by whoever stops and starts components after launch (a reload, a health
        # restart), so the two never act on the same component at once.
        self.changing = asyncio.Lock()
        self._started: list[str] = []  # running ones, kept in dependency order (stop reverses it)
        self.reasons: dict[str, str | None] = {}  # the reason given with each one's last transition
        self.tasks: dict[str, ComponentTasks] = {}  # each one's ``tasks`` service, made on request
        # Stopped by an operator (``framework.control``): supervision leaves them stopped.
        self.held: set[str] = set()

    def set_state(self, name: str, state: ComponentState, reason: str | None = None) -> None:
        old = self.states.get(name, ComponentState.CREATED)
        self.states[name] = state
        self.reasons[name] = reason
        for listener in self.listeners:
            listener(name, old, state, reason)

    def tasks_for(self, name: str) -> ComponentTasks:
        """The ``tasks`` service of a component (one per name, kept across its restarts)."""
        tasks = self.tasks.get(name)
        if tasks is None:
            tasks = self.tasks[name] = ComponentTasks(name)
        return tasks

    def task_failure(self, name: str) -> str | None:
        """Why a task the component spawned died since it last started, if one did."""
        tasks = self.tasks.get(name)
        return tasks.failure if tasks is not None else None

    def register(self, name: str, instance: Any, spec: ComponentSpec | None = None) -> None:
        """Take a built instance (and, when a reload rebuilt it, its new spec); nothing runs yet."""
        if spec is not None:
            self.specs[name] = spec
        self.instances[name] = instance
        self.set_state(name, ComponentState.CONFIGURED)

    async def start_all(self) -> None:
        """Start every component in order; on failure stop what started and raise."""
        try:
            if self.parallel:
                for wave in self.graph.waves():
                    results = await asyncio.gather(*(self._start_or_skip(n) for n in wave), return_exceptions=True)
                    failures = [r for r in results if isinstance(r, BaseException)]
                    if failures:
                        raise failures[0]
            else:
                for name in self.graph.order:
                    await self._start_or_skip(name)
        except BaseException:  # a failed start, or a signal during start-up: roll back
            await asyncio.shield(self.stop_all())
            raise

    async def _start_or_skip(self, name: str) -> None:
        """Start one; an `optional` one that fails is left failed and the app runs degraded.

        Components that depend on a failed optional one are not started (left failed, saying
        which dependency they wait for); the health monitor retries them later.
        """
        waiting = [d for d in self.graph.edges[name] if self.states.get(d) not in ACTIVE]
        if waiting:
            reason = f"not started: depends on '{waiting[0]}', which is not running"
            self.set_state(name, ComponentState.FAILED, reason)
            return
        try:
            await self.start(name)
        except ComponentStartError:
            if not self.specs[name].optional:
                raise

    async def start(self, name: str) -> None:
        instance, spec = self.instances[name], self.specs[name]
        self.set_state(name, ComponentState.STARTING)
        tasks = self.tasks.get(name)
        if tasks is not None:
            tasks.reset()
        try:
            await within(self._start_hooks(name, instance), spec.start_timeout)
        except TimeoutError:
            cause = f"start did not finish within {spec.start_timeout:g} s (start_timeout)"
            self.set_state(name, ComponentState.FAILED, cause)
            raise ComponentStartError(name, cause) from None
        except asyncio.CancelledError:
            self.set_state(name, ComponentState.FAILED, "start cancelled")
            raise
        except Exception as exc:
            cause = f"{type(exc).__name__}: {exc}"
            self.set_state(name, ComponentState.FAILED, cause)
            raise ComponentStartError(name, cause) from exc
        rank = {n: i for i, n in enumerate(self.graph.order)}
        self._started.append(name)
        self._started.sort(key=lambda n: rank.get(n, len(rank)))  # a restarted one keeps its place
        self.set_state(name, ComponentState.RUNNING)

    async def _start_hooks(self, name: str, instance: Any) -> None:
        try:
            await call_hook(instance, "on_before_start")
            await call_hook(instance, "start")
            await call_hook(instance, "on_after_start")
        except BaseException:  # what a failed (or timed out) start spawned does not outlive it
            if name in self.tasks:
                self.tasks[name].cancel()
            raise

    async def stop_all(self) -> None:
        """Stop in reverse start order; a failing or hanging stop does not block the rest."""
        for name in reversed(self._started):
            await self.stop(name)

    async def stop(self, name: str, reason: str | None = None) -> None:
        """Stop one (its hooks, then its tasks); ``reason`` goes with its ``stopped`` state."""
        if self.states.get(name) not in ACTIVE:
            return
        instance, spec = self.instances[name], self.specs[name]
        self.set_state(name, ComponentState.STOPPING)
        try:
            await within(self._stop_hooks(name, instance), spec.stop_timeout)
        except TimeoutError:  # its hooks are abandoned; what it spawned is cancelled all the same
            if name in self.tasks:
                self.tasks[name].cancel()
            self.set_state(name, ComponentState.FAILED, f"stop did not finish within {spec.stop_timeout:g} s")
        except Exception as exc:
            self.set_state(name, ComponentState.FAILED, f"stop raised {type(exc).__name__}: {exc}")
        else:
            self.set_state(name, ComponentState.STOPPED, reason)
        finally:
            if name in self._started:
                self._started.remove(name)

    async def _stop_hooks(self, name: str, instance: Any) -> None:
        try:
            await call_hook(instance, "on_before_stop")
            await call_hook(instance, "stop")
            await call_hook(instance, "on_after_stop")
        finally:  # then what it spawned and left running, whatever its hooks did
            if name in self.tasks:
                await self.tasks[name].close()

    @property
    def failed(self) -> list[str]:
        """Enabled components left failed (optional ones at start-up, or given up on)."""
        return [n for n in self.graph.order if self.states.get(n) is ComponentState.FAILED]

    def adopt(self, graph: Graph, specs: Mapping[str, ComponentSpec]) -> None:
        """Take a reloaded config's graph and specs; components no longer in it are forgotten."""
        self.graph, self.specs = graph, dict(specs)
        for name in [n for n in self.instances if n not in graph.edges]:
            self.forget(name)
        rank = {n: i for i, n in enumerate(graph.order)}
        self._started.sort(key=lambda n: rank.get(n, len(rank)))

    def forget(self, name: str) -> None:
        """Drop a stopped component's instance and state (a reload removed or disabled it)."""
        self.instances.pop(name, None)
        self.states.pop(name, None)
        self.reasons.pop(name, None)
        self.tasks.pop(name, None)
        if name in self._started:
            self._started.remove(name)
