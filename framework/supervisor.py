"""Supervision: restart components that stay unhealthy, with backoff; degrade what depends on them.

The supervisor listens to the health monitor (``HealthMonitor.add_listener``) and to the
lifecycle's transitions; it acts only through the lifecycle. After ``health.failure_threshold``
failed checks in a row a component is restarted (stop, then start) after ``health.backoff``
seconds, doubling each time up to ``health.max_backoff``, at most ``health.max_restarts`` times;
it is then left ``failed``. The restart count resets once it has stayed healthy for
``health.stable_after`` seconds. Its dependents are marked degraded meanwhile, never stopped,
and run normally again once it is healthy. While a dependency the whole app shares is down
(``HealthMonitor.add_check``: the event bus), failed checks do not count and nothing is restarted:
a restart would not bring it back.

Settings are read at every check, so a reload of the ``health`` section takes effect at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from loguru import logger

from framework.errors import ComponentStartError
from framework.health import HealthMonitor
from framework.health_records import ComponentHealth, HealthSettings, HealthStatus
from framework.lifecycle import ACTIVE, ComponentState, Lifecycle

# Someone (a reload, a restart) is building, starting or stopping it: not a failed check.
_TRANSITIONAL = (
    ComponentState.CREATED,
    ComponentState.CONFIGURED,
    ComponentState.STARTING,
    ComponentState.STOPPING,
)


def backoff_for(settings: HealthSettings, restarts: int) -> float:
    """Delay before restart number ``restarts + 1``: backoff * 2**restarts, capped."""
    return float(min(settings.backoff * 2 ** min(restarts, 30), settings.max_backoff))


class Supervisor:
    """Restarts the components the monitor finds failing and degrades their dependents meanwhile.

    Its settings are the monitor's (the ``health`` section, as it is now). The restart facts
    it keeps (``failures``, ``restarts``, ``restarting``, ``gave_up``) live on the monitor's
    records, so a health report shows them.
    """

    def __init__(self, lifecycle: Lifecycle, monitor: HealthMonitor) -> None:
        self.lifecycle = lifecycle
        self.monitor = monitor
        self._pending: dict[str, asyncio.Task[None]] = {}  # a restart or a give-up under way
        self._degraded_by: dict[str, set[str]] = {}  # dependent -> components it waits for
        self._undo: list[Callable[[], None]] = []
        self.log = logger.bind(component="health")  # its log events keep the names they had

    @property
    def running(self) -> bool:
        return bool(self._undo)

    async def start(self) -> None:
        """Listen to health checks and lifecycle transitions."""
        if self.running:
            return
        listeners = self.lifecycle.listeners
        listeners.append(self._on_transition)
        self._undo = [
            lambda: listeners.remove(self._on_transition),
            self.monitor.add_listener(self._on_check, waits_for=self.waits_for),
        ]

    async def stop(self) -> None:
        """Stop listening and cancel pending restarts; the lifecycle then stops the components."""
        for undo in reversed(self._undo):
            undo()
        self._undo = []
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        self._pending.clear()

    def waits_for(self, name: str) -> frozenset[str]:
        """The components whose restart or recovery a degraded ``name`` waits for."""
        return frozenset(self._degraded_by.get(name, ()))

    # acting on checks

    def _on_check(self, record: ComponentHealth) -> None:
        if record.name in self.lifecycle.held:  # an operator stopped it: not a failure to mend
            record.failures = 0
            return
        settings = self.monitor.settings
        held = bool(self.monitor.failing_checks())  # a shared dependency is down: wait for it
        self._count(record, settings, held)
        if (
            not held
            and record.failures >= settings.failure_threshold
            and not record.restarting
            and not record.gave_up
            and self._dependencies_active(record.name)
        ):
            self._schedule_restart(record, settings)

    def _count(self, record: ComponentHealth, settings: HealthSettings, held: bool) -> None:
        """A failed check counts toward a restart; another ends the streak (and, if stable, the restarts)."""
        if record.status is HealthStatus.UNHEALTHY:
            state = self.lifecycle.states.get(record.name)
            if not (held or record.restarting or record.gave_up or state in _TRANSITIONAL):
                record.failures += 1
            return
        record.failures = 0
        if record.status is HealthStatus.HEALTHY:
            self._recovered(record.name)
        now = time.monotonic()
        if record.restarts and record.restarted_at and now - record.restarted_at >= settings.stable_after:
            record.restarts = 0

    def _dependencies_active(self, name: str) -> bool:
        return all(self.lifecycle.states.get(d) in ACTIVE for d in self.lifecycle.graph.edges.get(name, ()))

    def _on_transition(self, name: str, old: ComponentState, new: ComponentState, reason: str | None) -> None:
        """A component started by someone else (a reload, say) gets a clean slate."""
        record = self.monitor.records.get(name)
        if new is ComponentState.RUNNING and record is not None and not record.restarting:
            record.failures, record.gave_up = 0, False

    # restarts

    def _schedule_restart(self, record: ComponentHealth, settings: HealthSettings) -> None:
        name = record.name
        if record.restarts >= settings.max_restarts:
            self._give_up(record, settings)
            return
        delay = backoff_for(settings, record.restarts)
        record.restarts += 1
        record.restarts_total += 1
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
        self._pending[name] = task

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
            self._pending.pop(name, None)

    def _give_up(self, record: ComponentHealth, settings: HealthSettings) -> None:
        record.gave_up = True
        reason = (
            f"gave up after {record.restarts} restart(s) (health.max_restarts={settings.max_restarts});"
            f" last: {record.reason or 'unhealthy'}"
        )
        self.log.bind(event="health.gave_up", subject=record.name, restarts=record.restarts).error(
            f"{record.name}: {reason}"
        )
        self._degrade_dependents(record.name)
        task = asyncio.get_running_loop().create_task(self._fail(record.name, reason), name="health-fail")
        self._pending[record.name] = task

    async def _fail(self, name: str, reason: str) -> None:
        try:
            await self.lifecycle.stop(name)
            self.lifecycle.set_state(name, ComponentState.FAILED, reason)
        finally:
            self._pending.pop(name, None)

    # dependents

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
