"""The config as an installing app runs it, for the verbs that show it (show, explain, check):
the files with the company's installations laid on them, fetched and verified as the running
app does. The registry out of reach, or an installation the files cannot take: the files
alone, with a warning that says why."""

from __future__ import annotations

import dataclasses

from loguru import logger

from framework.assembly import load_config
from framework.bounded import run_apart
from framework.config.compose import ConfigSource
from framework.config.installed import Installation
from framework.config.modules_section import ModulesSettings
from framework.config.snapshot import Snapshot
from framework.errors import ComponentImportError, ConfigError, InstallationError
from framework.modules.client import RegistryClient, RegistryUnavailableError
from framework.modules.package import PackageRefusedError
from framework.modules.unpacked import ready_installation

log = logger.bind(component="modules")


def with_installations(source: ConfigSource, snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with the company's installations composed in (when ``modules.enabled``)."""
    settings = ModulesSettings.from_section(snapshot.section("modules"))
    if not settings.enabled:
        return snapshot
    try:
        installed = run_apart(fetch_installed(settings), "modules-fetch")
    except RegistryUnavailableError as exc:
        log.bind(event="modules.registry_unreachable").warning(f"{exc}; showing the files without installed modules")
        return snapshot
    try:
        return load_config(dataclasses.replace(source, installed=installed), previous=snapshot)
    except ConfigError as exc:
        log.bind(event="modules.refused").warning(f"installed modules left out: {exc}")
        return snapshot


async def fetch_installed(settings: ModulesSettings) -> tuple[Installation, ...]:
    """The company's installations whose packages pass, unpacked and importable."""
    client = RegistryClient(settings.registry, settings.token, settings.timeout)
    installed = []
    try:
        for record in await client.installations():
            try:
                installed.append((await ready_installation(client, record, settings))[0])
            except (PackageRefusedError, ComponentImportError, InstallationError, RegistryUnavailableError) as exc:
                log.bind(event="modules.refused").warning(f"installation {record.id} ({record.module}) left out: {exc}")
    finally:
        await client.close()
    return tuple(sorted(installed, key=lambda i: i.component))
