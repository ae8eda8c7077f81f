"""Health: component checks, the app's aggregate status, readiness, liveness, and restarts.

A component reports its health with an optional ``health()`` method, plain or ``async``. The
monitor polls every component on ``health.interval``, bounds each check by ``health.timeout``
(a check that raises or hangs counts as unhealthy), keeps a short history of transitions and
publishes ``system.health.changed`` for each one. After ``health.failure_threshold`` failed
checks in a row a component is restarted through the lifecycle (stop, then start) with
exponential backoff, at most ``health.max_restarts`` times; it is then left ``failed``. Its
dependents are marked degraded meanwhile, never stopped.

Settings are read at every round, so a reload of the ``health`` section takes effect at once.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loguru import logger

from framework.errors import ComponentStartError
from framework.lifecycle import ACTIVE, ComponentState, Lifecycle
from framework.types import Publish

HEALTH_CHANGED = "system.health.changed"


class HealthStatus(StrEnum):
    """How a component (or the whole app) is doing; worse statuses sort higher."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}
# Someone (a reload, a restart) is building, starting or stopping it: not a failed check.
_TRANSITIONAL = (
    ComponentState.CREATED,
    ComponentState.CONFIGURED,
    ComponentState.STARTING,
    ComponentState.STOPPING,
)
_ACCEPTED = "a HealthStatus, 'healthy'/'degraded'/'unhealthy', a bool, None, or a dict with 'status'"


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One check's answer: a status and free-form, JSON-friendly details."""

    status: HealthStatus
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Any) -> HealthReport:
        """Normalize what a ``health()`` returned; anything unexpected is unhealthy, saying why."""
        if isinstance(value, HealthReport):
            return value
        if value is None or value is True:
            return cls(HealthStatus.HEALTHY)
        if value is False:
            return cls(HealthStatus.UNHEALTHY)
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Mapping):
            report = cls.of(value[0])
            return cls(report.status, {**value[1], **report.details})
        if isinstance(value, Mapping) and "status" in value:
            report = cls.of(value["status"])
            return cls(report.status, {k: v for k, v in value.items() if k != "status"})
        if isinstance(value, str):
            try:
                return cls(HealthStatus(value.lower()))
            except ValueError:
                pass
        return cls(
            HealthStatus.UNHEALTHY, {"error": f"health() returned {value!r:.80}; expected {_ACCEPTED}"}
        )


def unhealthy(error: str) -> HealthReport:
    return HealthReport(HealthStatus.UNHEALTHY, {"error": error})


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """The normalized ``health`` section."""

    enabled: bool = True
    interval: float = 5.0
    timeout: float = 2.0
    failure_threshold: int = 3
    max_restarts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    stable_after: float = 300.0
    history_size: int = 100

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> HealthSettings:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in section.items() if k in known})

    def backoff_for(self, restarts: int) -> float:
        """Delay before restart number ``restarts + 1``: backoff * 2**restarts, capped."""
        return float(min(self.backoff * 2 ** min(restarts, 30), self.max_backoff))


@dataclass(slots=True)
class ComponentHealth:
    """What the monitor knows about one component."""

    name: str
    status: HealthStatus = HealthStatus.HEALTHY
    details: Mapping[str, Any] = field(default_factory=dict)
    checked_at: float | None = None
    duration: float | None = None
    failures: int = 0  # failed checks in a row
    restarts: int = 0
    restarted_at: float | None = None
    restarting: bool = False
    gave_up: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "details": dict(self.details),
            "checked_at": self.checked_at,
            "duration": self.duration,
            "consecutive_failures": self.failures,
            "restarts": self.restarts,
            "restarting": self.restarting,
            "gave_up": self.gave_up,
        }


@dataclass(frozen=True, slots=True)
class HealthChange:
    """One transition: of a component (``scope='component'``) or of the app's aggregate."""

    time: float
    scope: str
    name: str
    status: HealthStatus
    previous: HealthStatus
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "scope": self.scope,
            "name": self.name,
            "status": self.status.value,
            "previous": self.previous.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Probe:
    """A readiness or liveness answer with the reasons behind a 'no'."""

    ok: bool
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


class HealthMonitor:
    """Polls component health, aggregates it, and restarts components that stay unhealthy.

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
        self._restarts: dict[str, asyncio.Task[None]] = {}
        self._checks: dict[str, asyncio.Task[Any]] = {}  # an async check still running (hung)
        self._degraded_by: dict[str, set[str]] = {}  # dependent -> components it waits for
        self._last_round: float | None = None
        self.rounds = 0
        self.log = logger.bind(component="health")
        lifecycle.listeners.append(self._on_transition)

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
        """Stop polling and cancel pending restarts; the lifecycle then stops the components."""
        tasks = [t for t in (self._task, *self._restarts.values(), *self._checks.values()) if t]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        self._task = None
        self._restarts.clear()
        self._checks.clear()

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
        """Check every enabled component once, act on the results, return the app's status."""
        settings = self.settings
        names = [n for n in self.lifecycle.graph.order if n in self.lifecycle.states]
        reports = await asyncio.gather(*(self._check(n, settings) for n in names))
        for name, (report, duration) in zip(names, reports, strict=True):
            self._record(name, report, duration, settings)
        for gone in set(self.records) - set(names):  # removed by a reload
            del self.records[gone]
        self._aggregate()
        self.rounds += 1
        return self.status

    async def _check(self, name: str, settings: HealthSettings) -> tuple[HealthReport, float]:
        started = time.monotonic()
        state = self.lifecycle.states[name]
        if state not in ACTIVE or state is ComponentState.STARTING:
            reason = self.lifecycle_reason(name) or f"component is {state.value}"
            return HealthReport(HealthStatus.UNHEALTHY, {"state": state.value, "error": reason}), 0.0
        report = await self._call(name, self.lifecycle.instances.get(name), settings.timeout)
        if state is ComponentState.DEGRADED and report.status is HealthStatus.HEALTHY:
            waits = sorted(self._degraded_by.get(name, ()))
            reason = f"waits for {', '.join(waits)}" if waits else "degraded"
            report = HealthReport(HealthStatus.DEGRADED, {**report.details, "reason": reason})
        return report, time.monotonic() - started

    def lifecycle_reason(self, name: str) -> str | None:
        """The reason recorded with the component's last lifecycle transition, if any."""
        reasons: Mapping[str, str | None] = getattr(self.lifecycle, "reasons", {})
        return reasons.get(name)

    async def _call(self, name: str, instance: Any, timeout: float) -> HealthReport:
        method = getattr(instance, "health", None)
        if not callable(method):
            return HealthReport(HealthStatus.HEALTHY)
        pending = self._checks.get(name)
        if pending is not None:
            if not pending.done():
                return unhealthy("the previous health() call has not returned yet (hung); not called again")
            del self._checks[name]
        started = time.monotonic()
        try:
            result = method()
            if inspect.isawaitable(result):
                task = self._checks[name] = asyncio.ensure_future(result)
                task.add_done_callback(_consume)
                done, _ = await asyncio.wait({task}, timeout=timeout)
                if not done:
                    task.cancel()  # kept in _checks: one that ignores cancel blocks the next calls
                    return unhealthy(f"health() did not answer within {timeout:g} s (health.timeout)")
                del self._checks[name]
                result = task.result()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the monitor itself is stopping
            return unhealthy("health() was cancelled")
        except Exception as exc:
            return unhealthy(f"health() raised {type(exc).__name__}: {exc}")
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            return unhealthy(
                f"health() took {elapsed:.3f} s, over health.timeout ({timeout:g} s); a plain"
                " (not async) check blocks the event loop: make it async or quicker"
            )
        return HealthReport.of(result)

    def _record(self, name: str, report: HealthReport, duration: float, settings: HealthSettings) -> None:
        record = self.records.get(name)
        if record is None:
            record = self.records[name] = ComponentHealth(name)
        previous = record.status
        record.status, record.details = report.status, report.details
        record.checked_at, record.duration = time.time(), duration
        if report.status is HealthStatus.UNHEALTHY:
            state = self.lifecycle.states.get(name)
            if not (record.restarting or record.gave_up or state in _TRANSITIONAL):
                record.failures += 1
        else:
            record.failures = 0
            if report.status is HealthStatus.HEALTHY:
                self._recovered(name)
            now = time.monotonic()
            if record.restarts and record.restarted_at and now - record.restarted_at >= settings.stable_after:
                record.restarts = 0
        if report.status is not previous:
            self._changed("component", name, report.status, previous, _reason(report))
        if (
            record.failures >= settings.failure_threshold
            and not record.restarting
            and not record.gave_up
            and self._dependencies_active(name)
        ):
            self._schedule_restart(record, settings)

    def _aggregate(self) -> None:
        worst = HealthStatus.HEALTHY
        for name, record in self.records.items():
            status = record.status
            if status is HealthStatus.UNHEALTHY and self._optional(name):
                status = HealthStatus.DEGRADED  # the app runs without it
            if status.severity > worst.severity:
                worst = status
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

    # restarts

    def _schedule_restart(self, record: ComponentHealth, settings: HealthSettings) -> None:
        name = record.name
        if record.restarts >= settings.max_restarts:
            self._give_up(record, settings)
            return
        delay = settings.backoff_for(record.restarts)
        record.restarts += 1
        record.restarting = True
        self.log.bind(
            event="health.restart_scheduled",
            subject=name,
            attempt=record.restarts,
            delay=delay,
            max_restarts=settings.max_restarts,
        ).warning(
            f"{name} failed {record.failures} checks in a row; restart {record.restarts}"
            f"/{settings.max_restarts} in {delay:g} s"
        )
        self._degrade_dependents(name)
        task = asyncio.get_running_loop().create_task(self._restart(record, delay), name=f"restart-{name}")
        self._restarts[name] = task

    async def _restart(self, record: ComponentHealth, delay: float) -> None:
        name = record.name
        try:
            await asyncio.sleep(delay)
            self.log.bind(event="health.restarting", subject=name, attempt=record.restarts).info(
                f"restarting {name}"
            )
            async with self.lifecycle.changing:  # never in the middle of a reload
                await self.lifecycle.stop(name)
                await self.lifecycle.start(name)
        except ComponentStartError as exc:
            self.log.bind(event="health.restart_failed", subject=name, attempt=record.restarts).warning(
                str(exc)
            )
        else:
            record.failures = 0
            record.restarted_at = time.monotonic()
            self.log.bind(event="health.restarted", subject=name, attempt=record.restarts).info(
                f"{name} restarted"
            )
        finally:
            record.restarting = False
            self._restarts.pop(name, None)

    def _give_up(self, record: ComponentHealth, settings: HealthSettings) -> None:
        record.gave_up = True
        reason = (
            f"gave up after {record.restarts} restart(s) (health.max_restarts={settings.max_restarts});"
            f" last: {_reason(HealthReport(record.status, record.details)) or 'unhealthy'}"
        )
        self.log.bind(event="health.gave_up", subject=record.name, restarts=record.restarts).error(
            f"{record.name}: {reason}"
        )
        self._degrade_dependents(record.name)
        task = asyncio.get_running_loop().create_task(self._fail(record.name, reason), name="health-fail")
        self._restarts[record.name] = task

    async def _fail(self, name: str, reason: str) -> None:
        try:
            await self.lifecycle.stop(name)
            self.lifecycle.set_state(name, ComponentState.FAILED, reason)
        finally:
            self._restarts.pop(name, None)

    def _degrade_dependents(self, name: str) -> None:
        for dependent in self.lifecycle.graph.dependents(name):
            self._degraded_by.setdefault(dependent, set()).add(name)
            if self.lifecycle.states.get(dependent) is ComponentState.RUNNING:
                self.lifecycle.set_state(
                    dependent, ComponentState.DEGRADED, f"dependency '{name}' is unhealthy"
                )

    def _recovered(self, name: str) -> None:
        for dependent, causes in list(self._degraded_by.items()):
            causes.discard(name)
            if causes:
                continue
            del self._degraded_by[dependent]
            if self.lifecycle.states.get(dependent) is ComponentState.DEGRADED:
                self.lifecycle.set_state(dependent, ComponentState.RUNNING, f"dependency '{name}' recovered")

    def _on_transition(self, name: str, old: ComponentState, new: ComponentState, reason: str | None) -> None:
        """A component started by someone else (a reload, say) gets a clean slate."""
        record = self.records.get(name)
        if new is ComponentState.RUNNING and record is not None and not record.restarting:
            record.failures, record.gave_up = 0, False

    # probes and reports

    def _optional(self, name: str) -> bool:
        spec = self.lifecycle.specs.get(name)
        return bool(spec is not None and spec.optional)

    def _dependencies_active(self, name: str) -> bool:
        return all(self.lifecycle.states.get(d) in ACTIVE for d in self.lifecycle.graph.edges.get(name, ()))

    def readiness(self) -> Probe:
        """Ready when every enabled, non-optional component is running and not unhealthy."""
        reasons = []
        for name in self.lifecycle.graph.order:
            if self._optional(name):
                continue
            state = self.lifecycle.states.get(name, ComponentState.CREATED)
            if state not in (ComponentState.RUNNING, ComponentState.DEGRADED):
                reasons.append(f"{name} is {state.value}")
                continue
            record = self.records.get(name)
            if record is not None and record.status is HealthStatus.UNHEALTHY:
                reasons.append(f"{name} is unhealthy: {_reason(HealthReport(record.status, record.details))}")
        return Probe(not reasons, tuple(reasons), {"status": self.status.value})

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
            "history": [c.as_dict() for c in self.history(20)],
        }


def _reason(report: HealthReport) -> str | None:
    for key in ("error", "reason"):
        if key in report.details:
            return str(report.details[key])
    return None


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
