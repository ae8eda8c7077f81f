"""The package store as a component: wheels on disk by SHA256, under a size limit that reloads live."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from module_registry.errors import NotFound, TooLarge

if TYPE_CHECKING:
    from loguru import Logger


class PackageStore:
    """Stores accepted wheels as ``<path>/<sha256>.whl``; ``max_size`` bytes per wheel."""

    version = "1.0.0"
    config_schema = {
        "path": {"type": "string", "empty": False, "default": "var/packages", "reload": "restart"},
        "max_size": {
            "type": "integer",
            "min": 1,
            "default": 10 * 1024 * 1024,
            "reload": "live",
            "description": "bytes; a larger wheel is refused with 413",
        },
    }

    def __init__(self, config: Mapping[str, Any], logger: Logger) -> None:
        self.config, self.log = config, logger
        self.root = Path(config["path"])

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.log.bind(event="packages.ready", path=str(self.root), max_size=self.max_size).info(
            f"packages under {self.root}, at most {self.max_size} bytes each"
        )

    async def stop(self) -> None:
        return None

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config
        if "max_size" in changed:
            self.log.bind(event="packages.max_size_changed", max_size=self.max_size).info(
                f"packages: the size limit is now {self.max_size} bytes"
            )

    @property
    def max_size(self) -> int:
        """The size limit in force, in bytes."""
        return int(self.config["max_size"])

    def check_size(self, size: int) -> None:
        """Refuse a package over the limit (413, rule ``size-limit``)."""
        if size > self.max_size:
            raise TooLarge(
                f"the package is {size} bytes, over the limit of {self.max_size} bytes (packages.max_size)",
                rule="size-limit",
            )

    async def put(self, data: bytes) -> str:
        """Store a wheel (atomically, once per content); return its SHA256."""
        self.check_size(len(data))
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, digest, data)
        return digest

    async def get(self, sha256: str) -> bytes:
        """The stored wheel with this SHA256."""
        try:
            return await asyncio.to_thread(self._path(sha256).read_bytes)
        except FileNotFoundError as exc:
            raise NotFound(f"the package {sha256} is missing from the store") from exc

    def _path(self, sha256: str) -> Path:
        return self.root / f"{sha256}.whl"

    def _write(self, digest: str, data: bytes) -> None:
        target = self._path(digest)
        if target.exists():
            return
        partial = target.with_suffix(f".{os.getpid()}.{id(data)}.part")
        partial.write_bytes(data)
        os.replace(partial, target)
