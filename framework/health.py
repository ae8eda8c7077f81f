"""Health: component checks, the app's aggregate status, readiness and liveness.

A component reports its health with an optional ``health()`` method, plain or ``async``; one
whose spawned task died (``framework.tasks``) is unhealthy until it starts again. Shared
dependencies the app relies on (the event bus) are checked the same way (``add_check``): while
one fails the app is not ready. The monitor polls on ``health.interval``, bounds each check by
``health.timeout`` (a check that raises or hangs counts as unhealthy), keeps a short history of
transitions and publishes ``system.health.changed`` for each one. Listeners (``add_listener``)
get every component's record after each check: ``framework.supervisor`` acts on them; the
monitor only observes.

Settings are read at every round, so a reload of the ``health`` section takes effect at once.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from loguru import logger

from framework.callbacks import call_maybe_async
from framework.health_records import (
    ComponentHealth,
    HealthChange,
    HealthListener,
    HealthReport,
    HealthSettings,
    HealthStatus,
    Probe,
    WaitsFor,
    unhealthy,
)
from framework.lifecycle import ACTIVE, ComponentState, Lifecycle
from framework.types import Publish

HEALTH_CHANGED = "system.health.changed"


class HealthMonitor:
    """Polls component health, aggregates it and answers the probes; listeners act on it.

    ``settings`` returns the current ``health`` section; ``publish`` sends a system event
    without waiting (the app's bus). Everything else comes from the lifecycle.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        settings: Callable[[], Mapping[str, Any]],
        publish: Publish | None = None,
        *,
        name: str = "app",
    ) -> None:
        self.lifecycle = lifecycle
        self._section = settings
        self._parsed: tuple[Any, HealthSettings] | None = None
        self._publish = publish
        self.name = name
        self.records: dict[str, ComponentHealth] = {}
        self.status = HealthStatus.HEALTHY
        self._history: deque[HealthChange] = deque(maxlen=100)
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Task[Any]] = {}  # an async check still running (hung)
        self._shared: dict[str, Callable[[], Any]] = {}  # checks of shared dependencies, by name
        self.checks: dict[str, ComponentHealth] = {}  # their last results
        self._listeners: list[tuple[HealthListener, WaitsFor | None]] = []
        self._last_round: float | None = None
        self.rounds = 0
        self.log = logger.bind(component="health")

    def add_listener(
        self, listener: HealthListener, *, waits_for: WaitsFor | None = None
    ) -> Callable[[], None]:
        """Call ``listener`` with each component's record after every check; returns the undo.

        ``waits_for``, if given, names what a component held ``degraded`` waits for: its
        health reason says so (whoever degraded it knows why; the monitor does not).
        """
        entry = (listener, waits_for)
        self._listeners.append(entry)

        def undo() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return undo

    def add_check(self, name: str, check: Callable[[], Any]) -> Callable[[], None]:
        """Check a dependency the whole app shares (the event bus) every round; returns the undo.

        ``check`` answers like a component's ``health()``. While it is unhealthy the app is not
        ready and ``failing_checks`` names it (the supervisor restarts nothing meanwhile).
        """
        self._shared[name] = check

        def undo() -> None:
            if self._shared.get(name) is check:
                del self._shared[name]
                self.checks.pop(name, None)

        return undo

    def failing_checks(self) -> list[str]:
        """The shared dependencies whose last check was unhealthy."""
        return [name for name, record in self.checks.items() if record.status is HealthStatus.UNHEALTHY]

    # settings and lifecycle of the monitor itself

    @property
    def settings(self) -> HealthSettings:
        section = self._section()
        if self._parsed is None or self._parsed[0] is not section:
            self._parsed = (section, HealthSettings.from_config(section))
            if self._history.maxlen != self._parsed[1].history_size:
                self._history = deque(self._history, maxlen=self._parsed[1].history_size)
        return self._parsed[1]

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start polling (a no-op when ``health.enabled`` is false)."""
        if self.running or not self.settings.enabled:
            return
        self._last_round = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="health-monitor")

    async def stop(self) -> None:
        """Stop polling and cancel checks still running; the lifecycle then stops the components."""
        tasks = [t for t in (self._task, *self._pending.values()) if t]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        self._task = None
        self._pending.clear()

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a bug here must not end monitoring
                self.log.bind(event="health.round_failed").exception("health round failed")
            self._last_round = time.monotonic()
            await asyncio.sleep(self.settings.interval)

    # one round

    async def check(self) -> HealthStatus:
        """Check the shared dependencies and every enabled component once, tell the listeners,
        return the app's status. Dependencies are recorded first: listeners see this round's."""
        settings = self.settings
        states = self.lifecycle.states
        names = [n for n in self.lifecycle.graph.order if n in states]
        seen = [states[n] for n in names]  # what each result describes
        shared = list(self._shared.items())
        reports = await asyncio.gather(
            *(self._timed(f"@{name}", check, settings.timeout) for name, check in shared),
            *(self._check(n, settings) for n in names),
        )
        for (name, _), (report, duration) in zip(shared, reports[: len(shared)], strict=True):
            self._record(name, report, duration, scope="check")
        for name, state, (report, duration) in zip(names, seen, reports[len(shared) :], strict=True):
            if states.get(name) is state:  # else it moved on (a restart, say): a stale result
                self._record(name, report, duration)
        for gone in set(self.records) - set(names):  # removed by a reload
            del self.records[gone]
        self._aggregate()
        self.rounds += 1
        return self.status

    async def _check(self, name: str, settings: HealthSettings) -> tuple[HealthReport, float]:
        state = self.lifecycle.states[name]
        if state not in ACTIVE or state is ComponentState.STARTING:
            reason = self.lifecycle_reason(name) or f"component is {state.value}"
            return HealthReport(HealthStatus.UNHEALTHY, {"state": state.value, "error": reason}), 0.0
        failure = self.lifecycle.task_failure(name)
        if failure is not None:  # its own health() cannot vouch for work that is dead
            return unhealthy(failure), 0.0
        method = getattr(self.lifecycle.instances.get(name), "health", None)
        report, duration = await self._timed(name, method, settings.timeout)
        if state is ComponentState.DEGRADED and report.status is HealthStatus.HEALTHY:
            waits = self._waits_for(name)
            reason = f"waits for {', '.join(waits)}" if waits else "degraded"
            report = HealthReport(HealthStatus.DEGRADED, {**report.details, "reason": reason})
        return report, duration

    async def _timed(self, key: str, method: Any, timeout: float) -> tuple[HealthReport, float]:
        started = time.monotonic()
        report = await self._call(key, method, timeout)
        return report, time.monotonic() - started

    def _waits_for(self, name: str) -> list[str]:
        return sorted({w for _, waits_for in self._listeners if waits_for for w in waits_for(name)})

    def lifecycle_reason(self, name: str) -> str | None:
        """The reason recorded with the component's last lifecycle transition, if any."""
        return self.lifecycle.reasons.get(name)

    async def _call(self, name: str, method: Any, timeout: float) -> HealthReport:
        """Call a check (``name``: the component, or ``@`` and a shared dependency's name)."""
        if not callable(method):
            return HealthReport(HealthStatus.HEALTHY)
        pending = self._pending.get(name)
        if pending is not None:
            if not pending.done():
                return unhealthy("the previous health() call has not returned yet (hung); not called again")
            del self._pending[name]
        started = time.monotonic()
        try:
            result = await call_maybe_async(self._begin, name, method, timeout=timeout)
        except TimeoutError as exc:
            task = self._pending.get(name)
            if task is None or (task.done() and not task.cancelled() and task.exception() is exc):
                return unhealthy(f"health() raised TimeoutError: {exc}")  # its own, not ours
            task.cancel()  # kept in _pending: one that ignores cancel blocks the next calls
            return unhealthy(f"health() did not answer within {timeout:g} s (health.timeout)")
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the monitor itself is stopping
            return unhealthy("health() was cancelled")
        except Exception as exc:
            return unhealthy(f"health() raised {type(exc).__name__}: {exc}")
        self._pending.pop(name, None)
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            return unhealthy(
                f"health() took {elapsed:.3f} s, over health.timeout ({timeout:g} s); a plain"
                " (not async) check blocks the event loop: make it async or quicker"
            )
        return HealthReport.of(result)

    def _begin(self, name: str, method: Callable[[], Any]) -> Any:
        """Call ``health()``; an async one runs as a task kept until it ends, awaited through a shield.

        On timeout only the shield is cancelled, so a check that ignores cancellation cannot
        hold the round up, and (kept in ``_pending``) it is not called again while it hangs.
        """
        result = method()
        if not inspect.isawaitable(result):
            return result
        task = self._pending[name] = asyncio.ensure_future(result)
        task.add_done_callback(_consume)
        return asyncio.shield(task)

    def _record(self, name: str, report: HealthReport, duration: float, scope: str = "component") -> None:
        records = self.records if scope == "component" else self.checks
        record = records.get(name)
        if record is None:
            record = records[name] = ComponentHealth(name)
        previous = record.status
        record.status, record.details = report.status, report.details
        record.checked_at, record.duration = time.time(), duration
        if report.status is not previous:
            self._changed(scope, name, report.status, previous, report.reason)
        if scope == "component":
            for listener, _ in list(self._listeners):
                listener(record)

    def _aggregate(self) -> None:
        statuses = [record.status for record in self.checks.values()]
        for name, record in self.records.items():
            down = record.status is HealthStatus.UNHEALTHY and self._optional(name)
            statuses.append(HealthStatus.DEGRADED if down else record.status)  # optional: runs without it
        worst = max(statuses, key=lambda status: status.severity, default=HealthStatus.HEALTHY)
        if worst is not self.status:
            previous, self.status = self.status, worst
            self._changed("app", self.name, worst, previous, None)

    def _changed(
        self, scope: str, name: str, status: HealthStatus, previous: HealthStatus, reason: str | None
    ) -> None:
        change = HealthChange(time.time(), scope, name, status, previous, reason)
        self._history.append(change)
        log = self.log.bind(
            event="health.changed", scope=scope, subject=name, status=status.value, previous=previous.value
        )
        message = f"{scope} {name}: {previous.value} -> {status.value}" + (f" ({reason})" if reason else "")
        if status is HealthStatus.HEALTHY:
            log.info(message)
        else:
            log.warning(message)
        if self._publish is not None:
            self._publish(HEALTH_CHANGED, change.as_dict())

    # probes and reports

    def _optional(self, name: str) -> bool:
        spec = self.lifecycle.specs.get(name)
        return bool(spec is not None and spec.optional)

    def readiness(self) -> Probe:
        """Ready when every shared dependency is healthy and every enabled, non-optional component
        is running and not unhealthy."""
        reasons = [f"{name} is unhealthy: {self.checks[name].reason}" for name in self.failing_checks()]
        for name in self.lifecycle.graph.order:
            if self._optional(name):
                continue
            state = self.lifecycle.states.get(name, ComponentState.CREATED)
            if state not in (ComponentState.RUNNING, ComponentState.DEGRADED):
                reasons.append(f"{name} is {state.value}")
                continue
            record = self.records.get(name)
            if record is not None and record.status is HealthStatus.UNHEALTHY:
                reasons.append(f"{name} is unhealthy: {record.reason}")
        return Probe(not reasons, tuple(reasons), {"health": self.status.value})

    def liveness(self) -> Probe:
        """Alive when the event loop runs (this answer needs it) and the monitor keeps polling."""
        details: dict[str, Any] = {"monitor": "off"}
        if self._task is None:
            return Probe(True, (), details)
        if self._task.done():
            return Probe(False, ("the health monitor stopped",), details)
        settings = self.settings
        since = time.monotonic() - (self._last_round or time.monotonic())
        limit = 3 * settings.interval + 2 * settings.timeout + 5.0
        details = {"monitor": "on", "seconds_since_round": round(since, 3), "rounds": self.rounds}
        if since > limit:
            return Probe(False, (f"no health round for {since:.1f} s (limit {limit:g} s)",), details)
        return Probe(True, (), details)

    def history(self, limit: int | None = None) -> list[HealthChange]:
        changes = list(self._history)
        return changes if limit is None else changes[-limit:] if limit > 0 else []

    def report(self) -> dict[str, Any]:
        """The whole picture, as plain data (the admin API's ``/health``)."""
        ready, live = self.readiness(), self.liveness()
        return {
            "status": self.status.value,
            "ready": ready.ok,
            "live": live.ok,
            "reasons": list(ready.reasons + live.reasons),
            "components": {
                name: {
                    "state": self.lifecycle.states.get(name, ComponentState.CREATED).value,
                    "optional": self._optional(name),
                    **(self.records[name].as_dict() if name in self.records else {"status": None}),
                }
                for name in self.lifecycle.graph.order
            },
            "checks": {name: record.as_dict() for name, record in self.checks.items()},
            "history": [c.as_dict() for c in self.history(20)],
        }


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
