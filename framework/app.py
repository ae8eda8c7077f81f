"""App: one process built from a config dir, as an async context manager.

load + assemble (all checks, nothing built) -> build instances in dependency order ->
start -> ... -> stop in reverse. Everything a component receives is plain data.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from loguru import logger

from framework.assembly import Assembly, assemble, load
from framework.config.compose import ConfigSource
from framework.config.snapshot import Snapshot, lookup
from framework.container import ServiceFactory, build_container
from framework.lifecycle import ComponentState, Lifecycle
from framework.logging import masker


class App:
    """Build, start and stop the components a config describes."""

    def __init__(self, source: ConfigSource) -> None:
        self.source = source
        self.snapshot: Snapshot = load(source)
        masker.update(secret_values(self.snapshot))
        self.assembly: Assembly = assemble(self.snapshot)
        app = self.snapshot.section("app")
        self.lifecycle = Lifecycle(
            self.assembly.graph, self.assembly.specs, [_log_transition], parallel=app["parallel_start"]
        )
        self.log = logger.bind(component="app")

    def services(self) -> Mapping[str, ServiceFactory]:
        """Framework services a constructor can ask for by parameter name."""
        return {
            "name": lambda spec: spec.name,
            "logger": lambda spec: logger.bind(component=spec.name),
        }

    def build(self) -> None:
        """Instantiate every enabled component in dependency order (no hook runs yet)."""
        self.container = build_container(
            self.assembly.specs, self.assembly.classes, self.assembly.graph, self.services()
        )
        for name in self.assembly.graph.order:
            self.lifecycle.configured(name, getattr(self.container, name)())

    async def start(self) -> None:
        self.log.bind(event="app.starting", components=list(self.assembly.graph.order)).info(
            f"starting {self.snapshot.section('app')['name']}"
            f" ({len(self.assembly.graph.order)} components)"
        )
        self.build()
        await self.lifecycle.start_all()
        self.log.bind(event="app.started").info("all components running")

    async def stop(self) -> None:
        await self.lifecycle.stop_all()
        self.log.bind(event="app.stopped").info("all components stopped")

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
        started = False
        try:
            await self.start()
        except asyncio.CancelledError:  # a signal during start-up: start_all rolled back
            self.log.bind(event="app.stopped").info("start-up interrupted; stopped what had started")
            return
        started = True
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
    else:
        log.info(new.value)


def secret_values(snapshot: Snapshot) -> list[Any]:
    """The values at every secret key, so logs can mask them wherever they appear."""
    values = []
    for path in snapshot.secrets:
        try:
            values.append(lookup(snapshot.data, path))
        except KeyError:
            continue
    return values
