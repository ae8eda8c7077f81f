"""A component shipped as its own package and found through the `framework.components` entry point."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any


class Heartbeat:
    version = "0.1.0"
    publishes = ("system.heartbeat",)
    config_schema = {
        "interval": {"type": "number", "min": 0.01, "default": 1.0, "description": "seconds between beats"},
        "message": {"type": "string", "default": "alive"},
    }

    def __init__(self, config: Mapping[str, Any], bus: Any, logger: Any) -> None:
        self.config, self.bus, self.log = config, bus, logger
        self.beats = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config

    async def _beat(self) -> None:
        while True:
            self.beats += 1
            self.log.info(f"heartbeat {self.beats}: {self.config['message']}")
            await self.bus.publish("system.heartbeat", {"beat": self.beats})
            await asyncio.sleep(self.config["interval"])
