"""Risk limits the trading engine must consult before every order (hot-reloadable)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.contracts import RiskLimits


class RiskManager:
    version = "1.0.0"
    provides = (RiskLimits,)
    config_schema = {
        "max_position": {
            "type": "number",
            "min": 0.000001,
            "default": 3.0,
            "description": "largest absolute position",
        },
        "max_order_size": {
            "type": "number",
            "min": 0.000001,
            "default": 1.0,
            "description": "largest single order",
        },
    }

    def __init__(self, config: Mapping[str, Any], logger: Any) -> None:
        self.config, self.log = config, logger

    def start(self) -> None:
        self.log.info(
            f"limits: max_position={self.config['max_position']} max_order_size={self.config['max_order_size']}"
        )

    def stop(self) -> None:
        pass

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config
        self.log.info(
            f"limits now max_position={config['max_position']} max_order_size={config['max_order_size']}"
        )

    def check_order(self, symbol: str, side: str, quantity: float, position: float) -> str | None:
        if quantity > self.config["max_order_size"]:
            return f"order size {quantity} exceeds max_order_size {self.config['max_order_size']}"
        after = position + (quantity if side == "buy" else -quantity)
        if abs(after) > self.config["max_position"]:
            return f"position {after} would exceed max_position {self.config['max_position']}"
        return None
