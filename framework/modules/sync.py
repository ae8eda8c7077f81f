"""Keeping a company's installations running: the app's side of the module registry.

Each round asks the registry for the company's installations, fetches and verifies each one's
package (SHA-256 against the registry's record, then the package rules), unpacks it, and hands
the whole set to the app's reload transaction as the installed-modules layer. A set that
transaction rejects (a config the class's schema refuses, a start that fails) leaves the last
good set running; the installation it names is set aside until it changes, the rest is tried
again, and each installation's health in the registry says what happened here.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from framework.config.installed import Installation
from framework.config.modules_section import ModulesSettings
from framework.errors import ComponentImportError, InstallationError
from framework.modules.client import InstallationRecord, RegistryClient, RegistryUnavailableError
from framework.modules.endpoints import ModuleEndpoints, ModuleRoute
from framework.modules.package import PackageRefusedError
from framework.modules.unpacked import package_root, ready_installation
from framework.registry import install_package, uninstall_package
from framework.reload.outcome import ReloadOutcome

log = logger.bind(component="modules")

Apply = Callable[[tuple[Installation, ...]], Awaitable[ReloadOutcome]]


@dataclass(frozen=True)
class Ready:
    """An installation this app can run: its component entry, its package's folder, its endpoints."""

    installation: Installation
    folder: Path
    routes: tuple[ModuleRoute, ...]


@dataclass(frozen=True)
class ModuleHost:
    """What the sync needs of the app, handed down so this module never imports it."""

    apply: Apply  # reload with these installations; the transaction's outcome
    running: Callable[[], tuple[Installation, ...]]  # the installations the app runs now
    status: Callable[[str], tuple[str, str]]  # a component's (health status, reason)


class ModuleSync:
    """One app's installations, kept in step with its company's in the registry."""

    def __init__(self, settings: ModulesSettings, host: ModuleHost, instance: str) -> None:
        self.settings, self.host, self.instance = settings, host, instance
        self.client = RegistryClient(settings.registry, settings.token, settings.timeout)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._refused: dict[str, str] = {}  # an installation's fingerprint -> why it is set aside
        self._reported: dict[int, tuple[str, str]] = {}  # what the registry was last told
        self._running: dict[int, Ready] = {}  # the committed set, by installation id
        self.endpoints = ModuleEndpoints()
        self.unreachable: str | None = None
        self.rounds = 0

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._rounds(), name="modules-sync"))
        if self.settings.events_url:
            from framework.modules.hints import RegistryHints

            hints = RegistryHints(
                self.settings.events_url, self.settings.events_prefix, self.settings.company,
                self.wake, self.settings.timeout,
            )
            self._tasks.append(asyncio.create_task(hints.run(), name="modules-hints"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.client.close()

    def wake(self) -> None:
        self._wake.set()

    def health(self) -> dict[str, Any]:
        """The app's ``modules`` check: degraded while the registry is out of reach or an
        installation is set aside; never unhealthy, as the last good set keeps running."""
        if self.unreachable:
            return {"status": "degraded", "reason": self.unreachable}
        if self._refused:
            return {"status": "degraded", "reason": "; ".join(sorted(set(self._refused.values())))[:500]}
        return {"status": "healthy", "installed": [i.module for i in self.host.running()]}

    async def _rounds(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.sync()
            except Exception:  # one bad round must not end the sync: logged, tried next round
                log.bind(event="modules.sync_failed").exception("installing modules failed this round")
            self.rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll)

    async def sync(self) -> None:
        """One round: the registry's set, verified, then applied if it differs from the running one."""
        try:
            records = await self.client.installations()
        except RegistryUnavailableError as exc:
            if self.unreachable is None:
                log.bind(event="modules.registry_unreachable").warning(f"{exc}; running the last good set")
            self.unreachable = str(exc)
            return
        if self.unreachable is not None:
            log.bind(event="modules.registry_reachable").info(f"registry {self.client.shown} answers again")
            self.unreachable = None
        wanted = await self._verified(records)
        if tuple(r.installation for r in wanted) != self.host.running():
            await self._apply(wanted, records)
        await self._report_all(records)

    async def _verified(self, records: list[InstallationRecord]) -> list[Ready]:
        """What to run: each installation whose package and config passed, unpacked and
        importable; one that did not keeps its running version, if it has one."""
        wanted = []
        for record in records:
            ready = None if record.fingerprint in self._refused else await self._ready(record)
            ready = ready or self._running.get(record.id)
            if ready is not None:
                wanted.append(ready)
        current = {r.fingerprint for r in records}
        self._refused = {k: v for k, v in self._refused.items() if k in current}
        return sorted(wanted, key=lambda r: r.installation.component)

    async def _ready(self, record: InstallationRecord) -> Ready | None:
        try:
            installation, folder = await ready_installation(self.client, record, self.settings)
            return Ready(installation, folder, tuple(module_routes(installation, record)))
        except (PackageRefusedError, ComponentImportError, InstallationError, RegistryUnavailableError) as exc:
            self._set_aside(record, str(exc))
            return None

    async def _apply(self, wanted: list[Ready], records: list[InstallationRecord]) -> None:
        """Apply ``wanted``; when rejected, set aside the installations the reasons name (all
        new or changed ones when none is named), each back to its running version if it has
        one, and try once more."""
        by_id = {r.id: r for r in records}
        for _attempt in range(2):
            outcome = await self.host.apply(tuple(r.installation for r in wanted))
            if outcome.ok:
                self._committed(wanted)
                return
            self._restore()
            running = self.host.running()
            blamed = [r for r in wanted if _named(r.installation, outcome.reasons)]
            blamed = blamed or [r for r in wanted if r.installation not in running]
            reason = "; ".join(outcome.reasons)[:1500] or "the reload was rejected"
            for ready in blamed:
                self._set_aside(by_id[ready.installation.installation_id], f"rejected by the app: {reason}")
            fallback = (self._running.get(r.installation.installation_id) if r in blamed else r for r in wanted)
            wanted = [r for r in fallback if r is not None]
            if tuple(r.installation for r in wanted) == running:
                return

    def _committed(self, wanted: list[Ready]) -> None:
        """The new set runs: its packages stay importable, the others' go, its endpoints serve."""
        kept = {package_root(r.installation.entry_point) for r in wanted}
        for gone in {package_root(r.installation.entry_point) for r in self._running.values()} - kept:
            uninstall_package(gone)
        self._running = {r.installation.installation_id: r for r in wanted}
        self.endpoints.replace([route for r in wanted for route in r.routes])
        log.bind(event="modules.installed", modules=[r.installation.module for r in wanted]).info(
            "running installed modules: "
            + (", ".join(f"{r.installation.module} {r.installation.version}" for r in wanted) or "none")
        )

    def _restore(self) -> None:
        """A rejected set: the running installations' packages are the importable ones again."""
        for ready in self._running.values():
            install_package(package_root(ready.installation.entry_point), ready.folder)

    def _set_aside(self, record: InstallationRecord, reason: str) -> None:
        self._refused[record.fingerprint] = f"{record.module} {record.version}: {reason}"
        log.bind(event="modules.refused", installation=record.id, module=record.module).warning(
            f"installation {record.id} ({record.module} {record.version}) not run here: {reason}"
        )

    async def _report_all(self, records: list[InstallationRecord]) -> None:
        """Tell the registry each installation's health here, when it differs from the last told."""
        running = {i.installation_id: i for i in self.host.running()}
        for record in records:
            refused = self._refused.get(record.fingerprint)
            if refused is not None:
                report = ("unhealthy", refused)
            elif record.id in running:
                report = self.host.status(running[record.id].component)
            else:
                continue
            if self._reported.get(record.id) == report:
                continue
            try:
                await self.client.report_health(record.id, report[0], report[1], self.instance)
            except RegistryUnavailableError as exc:
                log.bind(event="modules.report_failed").warning(f"{exc}; the health report is sent next round")
                return
            self._reported[record.id] = report


def module_routes(installation: Installation, record: InstallationRecord) -> list[ModuleRoute]:
    """The module's declared endpoints, each handler imported from the module's own package."""
    root = package_root(installation.entry_point)
    routes = []
    for endpoint in record.endpoints:
        ref = str(endpoint.get("handler", ""))
        module_name, _, attribute = ref.partition(":")
        if module_name.split(".")[0] != root:
            raise ComponentImportError(f"{installation.origin}: handler '{ref}' lies outside the package '{root}'")
        try:
            handler = getattr(importlib.import_module(module_name), attribute)
        except Exception as exc:  # the module's own code failed: its installation is refused
            raise ComponentImportError(f"{installation.origin}: handler '{ref}': {type(exc).__name__}: {exc}") from exc
        method = str(endpoint.get("method", "GET")).upper()
        routes.append(ModuleRoute(installation.module, method, str(endpoint.get("path", "/")), handler, installation.component))
    return routes


def _named(installation: Installation, reasons: tuple[str, ...]) -> bool:
    marks = (f"components.{installation.component}", f"installation {installation.installation_id} ")
    return any(mark in reason for reason in reasons for mark in marks)
