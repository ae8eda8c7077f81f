"""An installation's package on this machine: downloaded, verified, unpacked, importable.

A package is unpacked once per module, version and SHA-256 (``<dir>/<name>-<version>-<sha>``),
so a restart or another round finds it in place; a folder is only ever made whole (see
``unpack_wheel``), so one that exists passed every check.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from packaging.utils import canonicalize_name

from framework.config.installed import Installation
from framework.config.modules_section import ModulesSettings
from framework.errors import InstallationError
from framework.modules.client import InstallationRecord, RegistryClient
from framework.modules.package import (
    PackageRefusedError,
    check_manifest,
    inspect_wheel,
    sha256_of,
    unpack_wheel,
)
from framework.registry import install_package

WITHHELD = "***"  # how the registry shows a writeOnly (secret) config value: it never sends it


async def ready_installation(
    client: RegistryClient, record: InstallationRecord, settings: ModulesSettings
) -> tuple[Installation, Path]:
    """The installation as this app runs it, its package verified and importable; raises
    PackageRefusedError, InstallationError or RegistryUnavailableError saying why not."""
    installation = Installation(
        record.id, record.module, record.version, record.company, client.shown, record.entry_point, record.config
    )
    withheld = sorted(_withheld(record.config))
    if withheld:
        raise InstallationError(
            record.id,
            f"{installation.origin}: config {', '.join(withheld)} are secrets (writeOnly) the registry never"
            " sends; a module that needs one must read it from its own environment",
        )
    return installation, await unpacked_package(client, record, settings)


def _withheld(config: object, prefix: str = "") -> list[str]:
    if isinstance(config, dict):
        return [key for k, v in config.items() for key in _withheld(v, f"{prefix}{k}.")]
    return [prefix.rstrip(".")] if config == WITHHELD else []


def folder_of(record: InstallationRecord, settings: ModulesSettings) -> Path:
    return settings.dir / f"{canonicalize_name(record.module)}-{record.version}-{record.sha256[:16]}"


def package_root(entry_point: str) -> str:
    """The top-level package a ``pkg.mod:Class`` entry point imports from."""
    return entry_point.partition(":")[0].split(".")[0]


async def unpacked_package(client: RegistryClient, record: InstallationRecord, settings: ModulesSettings) -> Path:
    """The installation's package folder, fetched and checked if not here yet, and made
    importable; PackageRefusedError names the rule a package breaks."""
    if not record.sha256:
        raise PackageRefusedError("package", "the registry holds no package for this module version")
    folder = folder_of(record, settings)
    if not folder.is_dir():
        data = await client.package(record.module_id, settings.max_package)
        got = sha256_of(data)
        if got != record.sha256:
            raise PackageRefusedError(
                "hash-mismatch", f"downloaded SHA-256 {got[:16]}... differs from the registry's record {record.sha256[:16]}..."
            )
        handlers = [str(e.get("handler", "")) for e in record.endpoints if e.get("handler")]

        def check_and_unpack() -> None:
            info = inspect_wheel(data, settings.max_package)
            check_manifest(info, record.module, record.version, [record.entry_point, *handlers])
            unpack_wheel(data, info, folder)

        await asyncio.to_thread(check_and_unpack)
    install_package(package_root(record.entry_point), folder)
    return folder
