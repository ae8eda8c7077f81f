"""App: one process built from a config dir, as an async context manager.

load + assemble (all checks, nothing built) -> build instances in dependency order ->
start -> ... -> stop in reverse. Everything a component receives is plain data.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import time
from collections.abc import Awaitable, Mapping
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loguru import logger

from framework.assembly import Assembly, Deployment, assemble, load_config
from framework.component import ComponentSpec
from framework.config.compose import ConfigSource
from framework.config.explain import origins_mentioned
from framework.config.plain import thaw
from framework.config.snapshot import FrozenDict, Snapshot
from framework.config.watch import content_hash
from framework.container import Providers, ServiceFactory, build_container
from framework.error_events import ErrorReporter
from framework.errors import ComponentBuildError
from framework.events.bus import EventBus, ScopedBus
from framework.events.factory import create_bus
from framework.events.settings import BusSettings
from framework.lifecycle import ComponentState, Lifecycle
from framework.log_settings import LogSettings
from framework.logging import configure as configure_logging
from framework.secrets import masker

if TYPE_CHECKING:
    from framework.alerts.router import AlertRouter
    from framework.config.installed import Installation
    from framework.config.overlay import Overlay
    from framework.control import ComponentControl
    from framework.fleet.launch import Joined
    from framework.fleet.member import FleetMember
    from framework.health import HealthMonitor
    from framework.metrics import AppMetrics
    from framework.modules.sync import ModuleSync
    from framework.reload.outcome import ReloadOutcome
    from framework.reload.reloader import Reloader
    from framework.resilience import Resilience
    from framework.supervisor import Supervisor


class App:
    """Build, start and stop the components a config describes."""

    _bus_running = False

    def __init__(self, source: ConfigSource) -> None:
        self._launch_digest = content_hash([source.config_dir], source.max_file_bytes)  # as composed now
        snapshot = load_config(source)
        self._joined: Joined | None = None
        self.fleet: FleetMember | None = None  # this instance's part in its fleet, once started
        self.modules: ModuleSync | None = None  # the registry's installations, once started
        if snapshot.section("fleet")["enabled"]:  # compose again with the overlay it should run
            from framework.fleet.launch import join

            self._joined = join(source, snapshot)
            assert self._joined is not None
            source, snapshot = self._joined.source, self._joined.snapshot
        self.source = source
        masker.update(snapshot.secret_values())
        self.deployment = Deployment(snapshot, assemble(snapshot))
        app = self.snapshot.section("app")
        self.lifecycle = Lifecycle(
            self.assembly.graph, self.assembly.specs, [_log_transition], parallel=app["parallel_start"]
        )
        self.log = logger.bind(component="app")
        self._background: set[asyncio.Task[Any]] = set()
        self.bus: EventBus = create_bus(self.snapshot.section("event_bus"))
        self.lifecycle.listeners.append(self._publish_transition)
        self.started_at: float | None = None
        # Set by the CLI: --log-level/--log-format beat the `logging` section, on reload too.
        # None: the process's logging is not the App's to reconfigure.
        self.logging_overrides: Mapping[str, str | None] | None = None

    # The running config, its assembly and providers: a reload that commits replaces them.

    @property
    def snapshot(self) -> Snapshot:
        return self.deployment.snapshot

    @property
    def assembly(self) -> Assembly:
        return self.deployment.assembly

    @property
    def container(self) -> Providers:
        return self.deployment.container

    # Health, resilience and reload are built (and their modules imported) on first use, most
    # often after every component is running: an app is not kept waiting for what it needs later.
    # Health and resilience read their section from the current snapshot at each use, so a
    # reload applies at once.

    @cached_property
    def health(self) -> HealthMonitor:
        from framework.health import HealthMonitor

        name = self.snapshot.section("app")["name"]
        monitor = HealthMonitor(self.lifecycle, lambda: self.snapshot.section("health"), self.emit, name=name)
        monitor.add_check("event_bus", self.bus.health)  # on Redis: does the server answer now
        return monitor

    @cached_property
    def supervisor(self) -> Supervisor:
        from framework.supervisor import Supervisor

        return Supervisor(self.lifecycle, self.health)

    @cached_property
    def control(self) -> ComponentControl:
        from framework.control import ComponentControl

        return ComponentControl(self.lifecycle, self.emit)

    @cached_property
    def metrics(self) -> AppMetrics:
        """The components' own metrics. Built once, on first use (prometheus-client is imported
        then), and never by a reload: a rebuilt component gets its metrics back, values kept."""
        from framework.metrics import AppMetrics

        return AppMetrics()

    @cached_property
    def resilience(self) -> Resilience:
        from framework.resilience import Resilience

        return Resilience(lambda: self.snapshot.section("error_handling"), self.emit)

    @cached_property
    def reloader(self) -> Reloader:
        from framework.reload.reloader import Reloader

        return Reloader(
            self.deployment,
            self.lifecycle,
            self.source,
            services=self.services,
            publish=self.emit,
            sections={
                "logging": self._reconfigure_logging,
                "event_bus": self._reconfigure_bus,
                "alerts": self._reconfigure_alerts,
            },
            launch_digest=self._launch_digest,
        )

    def _reconfigure_logging(self, section: FrozenDict, keys: frozenset[str]) -> None:
        forced = self.logging_overrides
        if forced is None:  # the App does not own this process's logging
            return
        settings = LogSettings.from_section(section, forced.get("level"), forced.get("format"))
        configure_logging(settings.level, settings.format, file=settings.file)  # raises: the reload is refused

    def _reconfigure_bus(self, section: FrozenDict, keys: frozenset[str]) -> None:
        self.bus.reconfigure(BusSettings.from_config(thaw(section)))

    @cached_property
    def errors(self) -> ErrorReporter:
        """Publishes ``error.<kind>`` events: the bus's failures and those read off system events."""

        def optional(name: str) -> bool:
            spec = self.lifecycle.specs.get(name)
            return bool(spec is not None and spec.optional)

        return ErrorReporter(self.emit, masker, optional)

    @cached_property
    def alerts(self) -> AlertRouter:
        """Routes events to alert sinks as the ``alerts`` section says (live on reload)."""
        from framework.alerts.router import AlertRouter

        return AlertRouter(self.bus, self.lifecycle.instances.get, masker)

    async def _reconfigure_alerts(self, section: FrozenDict, keys: frozenset[str]) -> None:
        await self.alerts.reconfigure(section, keys)

    def _built(self, name: str) -> bool:
        return name in self.__dict__  # a cached_property not yet used has nothing to stop

    def services(self, assembly: Assembly | None = None) -> Mapping[str, ServiceFactory]:
        """Framework services a constructor can ask for by parameter name.

        ``assembly``: the one being built (a reload's), if not the running one.
        """
        assembly = assembly or self.assembly
        return {
            "name": lambda spec: spec.name,
            "logger": lambda spec: logger.bind(component=spec.name),
            "bus": lambda spec: self._scoped_bus(spec, assembly),
            "tasks": lambda spec: self.lifecycle.tasks_for(spec.name),
            "health": lambda spec: self.health,
            "resilience": lambda spec: self.resilience,
            "metrics": lambda spec: self.metrics.for_component(spec.name),
            "app": lambda spec: self,
        }

    def _scoped_bus(self, spec: ComponentSpec, assembly: Assembly | None = None) -> ScopedBus:
        """The bus as one component sees it: its declared topics only (YAML, else class)."""
        assembly = assembly or self.assembly
        cls = assembly.classes[spec.name]
        publishes, subscribes = spec.topics(cls)
        return self.bus.scoped(
            spec.name,
            publishes=publishes,
            subscribes=subscribes,
            owner=lambda: self.lifecycle.instances.get(spec.name),
            payloads=assembly.payloads.get(spec.name),
        )

    def _publish_transition(
        self, name: str, old: ComponentState, new: ComponentState, reason: str | None
    ) -> None:
        data = {"component": name, "state": new.value, "previous": old.value, "reason": reason}
        self.emit(f"system.component.{new.value}", data)

    def emit(self, topic: str, data: Mapping[str, Any]) -> None:
        """Publish a framework event (``system.*``) without waiting; dropped when the bus is down."""
        if not self._bus_running:
            return
        task = asyncio.get_running_loop().create_task(self.bus.publish(topic, dict(data), source="app"))
        self._background.add(task)
        task.add_done_callback(self._emitted)
        self.errors.observe(topic, data)  # a failed start, an unhealthy check, a rejected reload

    def _emitted(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:  # Redis unreachable, say: the event is dropped
            self.log.bind(event="app.emit_failed").debug(f"system event dropped: {error}")

    def build(self) -> None:
        """Instantiate every enabled component in dependency order (no hook runs yet).

        ComponentBuildError when a constructor raises, naming the config values its message
        mentions and where each was set.
        """
        self.deployment.container = build_container(
            self.assembly.specs, self.assembly.classes, self.assembly.graph, self.services()
        )
        for name in self.assembly.graph.order:
            try:
                instance = self.container[name]()
            except Exception as exc:
                cause = f"{type(exc).__name__}: {exc}"
                origins = origins_mentioned(self.snapshot, f"components.{name}.config", cause)
                raise ComponentBuildError(name, cause, origins) from exc
            self.lifecycle.register(name, instance)

    async def start(self) -> None:
        self.log.bind(event="app.starting", components=list(self.assembly.graph.order)).info(
            f"starting {self.snapshot.section('app')['name']}"
            f" ({len(self.assembly.graph.order)} components)"
        )
        self.started_at = time.time()
        await self.bus.start()
        self._bus_running = True
        self.bus.failure_listener = self.errors.bus_failure
        try:
            await self.alerts.reconfigure(self.snapshot.section("alerts"))
            self.build()
            await self.lifecycle.start_all()
        except BaseException:
            await self._close_bus()
            raise
        failed = self.lifecycle.failed
        if failed:
            self.log.bind(event="app.started", degraded=failed).warning(
                f"running degraded: {', '.join(failed)} failed to start (optional)")
        else:
            self.log.bind(event="app.started").info("all components running")
        await self.health.start()
        await self.supervisor.start()
        if self._joined is not None:
            await self._join_fleet(self._joined)
        if self.snapshot.section("modules")["enabled"]:
            await self._install_modules()

    async def _install_modules(self) -> None:
        """Run the modules the registry installed for this app's company, and keep them in step."""
        from framework.config.modules_section import ModulesSettings
        from framework.modules.sync import ModuleHost, ModuleSync

        def apply(installed: tuple[Installation, ...]) -> Awaitable[ReloadOutcome]:
            source = dataclasses.replace(self.reloader.source, installed=installed)
            return self.reloader.reload(trigger="modules", source=source)

        host = ModuleHost(apply, lambda: self.reloader.source.installed, self._component_health)
        instance = f"{socket.gethostname()}:{os.getpid()}"
        self.modules = ModuleSync(ModulesSettings.from_section(self.snapshot.section("modules")), host, instance)
        await self.modules.start()
        self.health.add_check("modules", self.modules.health)

    def _component_health(self, name: str) -> tuple[str, str]:
        """(healthy or unhealthy, why) of one component, as a module registry is told it."""
        state = self.lifecycle.states.get(name)
        if state is not ComponentState.RUNNING:
            return "unhealthy", f"{name} is {state.value if state else 'not running'}"
        record = self.health.records.get(name) if self._built("health") else None
        details = record.as_dict() if record is not None else {}
        if details.get("status") == "unhealthy":
            return "unhealthy", str(details.get("reason") or details.get("error") or "its health check failed")
        return "healthy", "running"

    async def _join_fleet(self, joined: Joined) -> None:
        from framework.fleet.member import member_of

        http = self.snapshot.section("http")
        admin = f"http://{http['host']}:{http['port']}" if "admin" in self.assembly.graph.order else None
        self.fleet = member_of(joined, self, self._apply_overlay, admin)
        await self.fleet.start()
        self.health.add_check("fleet", self.fleet.health)

    async def _apply_overlay(self, overlay: Overlay | None, dry_run: bool, trigger: str) -> ReloadOutcome:
        source = dataclasses.replace(self.reloader.source, overlay=overlay)
        return await self.reloader.reload(dry_run=dry_run, trigger=trigger, source=source)

    def fleet_health(self) -> tuple[str, str]:
        """(lifecycle state, health status) as the fleet's members list shows them."""
        state = "running" if self._bus_running else "stopping"
        return state, self.health.status.value if self._built("health") else "unknown"

    async def stop(self) -> None:
        """Stop components in reverse order, then deliver what is still queued and close the bus."""
        if self.modules is not None:
            await self.modules.stop()
            self.modules = None
        if self.fleet is not None:
            await self.fleet.stop()  # leaves the fleet first: no order reaches a stopping app
            self.fleet = None
        if self._built("reloader"):
            await self.reloader.close()  # no reload runs while (or after) stopping
        if self._built("supervisor"):
            await self.supervisor.stop()
        if self._built("health"):
            await self.health.stop()
        await self.lifecycle.stop_all()
        await self._close_bus()
        self.log.bind(event="app.stopped").info("all components stopped")

    async def _close_bus(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        self._bus_running = False
        timeout = self.snapshot.section("event_bus")["shutdown_timeout"]
        await self.bus.stop(timeout)
        if self._built("alerts"):
            await self.alerts.close(timeout)  # what the bus delivered last is alerted on too

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def instance(self, name: str) -> Any:
        return self.lifecycle.instances[name]

    def state(self, name: str) -> ComponentState:
        return self.lifecycle.states[name]

    async def reload(self, dry_run: bool = False) -> ReloadOutcome:
        """Recompose from the launch source and apply the difference as one transaction.

        Never raises for a bad config: the outcome says ``rejected`` and why, and the running
        snapshot stays. ``dry_run`` returns the plan without applying it. Requests made while
        one runs are coalesced into the next attempt, which re-reads the files.
        """
        return await self.reloader.reload(dry_run=dry_run)

    @property
    def reload_in_progress(self) -> bool:
        """True while a reload attempt runs (the admin API answers 409 meanwhile)."""
        return self._built("reloader") and self.reloader.busy

    def reload_history(self) -> list[dict[str, Any]]:
        """The last ``app.watch.history_size`` reload attempts, oldest first, as plain data."""
        return self.reloader.history.as_list()

    def reload_totals(self) -> dict[str, int]:
        """How many reload attempts ended each way since start (the history forgets old ones)."""
        return dict(self.reloader.history.totals) if self._built("reloader") else {}

    async def watch(self, started: asyncio.Event | None = None) -> None:
        """Reload whenever the config dir's YAML content changes; runs until cancelled.

        ``run`` starts this itself when ``app.watch.enabled``; ``started`` is set once watching.
        """
        await self.reloader.watch(started)

    async def run(self, duration: float | None = None) -> None:
        """Start, run until SIGINT/SIGTERM (or `duration`), stop. A second signal forces exit."""
        stop = asyncio.Event()
        starting = asyncio.current_task()
        signals = 0

        def on_signal(number: int) -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                self.log.bind(event="app.forced_exit").warning("second signal: exiting now")
                os._exit(130)  # skip the graceful stop still under way
            self.log.bind(event="app.signal", signal=signal.Signals(number).name).info("stopping")
            stop.set()
            if not started and starting is not None:
                starting.cancel()

        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, on_signal, number)
        loop.add_signal_handler(signal.SIGHUP, lambda: self.reloader.request("signal"))
        started = False
        try:
            await self.start()
        except asyncio.CancelledError:  # a signal during start-up: start_all rolled back
            self.log.bind(event="app.stopped").info("start-up interrupted; stopped what had started")
            return
        started = True
        if self.snapshot.section("app")["watch"]["enabled"]:
            self.reloader.start_watching()  # stop() ends it
        try:
            await asyncio.wait_for(stop.wait(), timeout=duration)
        except TimeoutError:
            self.log.bind(event="app.duration_elapsed", duration=duration).info("duration elapsed")
        await self.stop()


def _log_transition(name: str, old: ComponentState, new: ComponentState, reason: str | None) -> None:
    log = logger.bind(component=name, event=f"component.{new.value}", previous=old.value)
    if reason:
        log = log.bind(reason=reason)
    if new is ComponentState.FAILED:
        log.error(f"{new.value}: {reason}")
    elif new is ComponentState.CONFIGURED:  # built, nothing run yet: detail for debugging
        log.debug(new.value)
    else:
        log.info(new.value)

