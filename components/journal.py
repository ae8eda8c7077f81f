"""A trade journal: every executed trade as one JSON line in a file, for audits and reports.

It extends the trader's `trade_sinks` extension point (framework extension points): the trader
hands it each trade once the trade store has it. Enable, disable or add sinks in YAML; a
running trader is told (on_extensions_change) without a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any


class TradeJournal:
    version = "1.0.0"
    extends = ("trade_sinks",)
    config_schema = {
        "path": {"type": "string", "empty": False, "default": "var/trades.jsonl", "reload": "restart",
                 "description": "the JSON-lines file trades are appended to"},
    }

    def __init__(self, config: Mapping[str, Any], logger: Any) -> None:
        self.path, self.log = Path(config["path"]), logger
        self._file: IO[str] | None = None

    async def start(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise RuntimeError(f"cannot open the trade journal '{self.path}': {exc.strerror or exc}") from None

    async def stop(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def record(self, trade: Mapping[str, Any]) -> None:
        if self._file is None:  # stopped: the trader is told before it can call again
            raise RuntimeError("the trade journal is stopped")
        self._file.write(json.dumps(dict(trade), sort_keys=True) + "\n")
        self._file.flush()  # a killed process loses no journaled trade
