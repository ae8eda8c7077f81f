"""The echo module's component: logs its greeting when it starts, changes and stops."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Echo:
    """Says ``greeting`` ``repeat`` times in the log; serves it over HTTP (``echo_module.http``)."""

    version = "1.0.0"
    config_schema = {
        "greeting": {"type": "string", "empty": False, "required": True},
        "repeat": {"type": "integer", "min": 1, "max": 10, "default": 1},
    }

    def __init__(self, config: Mapping[str, Any], logger: Any) -> None:
        self.config, self.log = config, logger

    def _said(self) -> str:
        return " ".join([self.config["greeting"]] * self.config["repeat"])

    async def start(self) -> None:
        self.log.bind(event="echo.started", greeting=self.config["greeting"]).info(self._said())

    async def stop(self) -> None:
        self.log.bind(event="echo.stopped").info("echo stopped")

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config
        self.log.bind(event="echo.config_changed", greeting=config["greeting"], changed=sorted(changed)).info(
            self._said()
        )
