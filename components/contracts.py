"""Contracts between the shipped components: checked by the framework before anything starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class RiskLimits(Protocol):
    """Decides whether an order may be placed."""

    def check_order(self, symbol: str, side: str, quantity: float, position: float) -> str | None:
        """None when allowed, else the reason for refusing."""
        ...


class TradeStore(Protocol):
    """Durable record of trades; positions are rebuilt from it after a restart."""

    def record_trade(self, trade: Mapping[str, Any]) -> bool:
        """Persist a trade once (by its id); False when it was already recorded."""
        ...

    def positions(self) -> dict[str, float]: ...

    def cash(self) -> float: ...

    def record_event(self, topic: str, data: Mapping[str, Any]) -> None: ...


class TradeSink(Protocol):
    """Takes every executed trade once the trade store has it: a journal, a report, a broker copy."""

    def record(self, trade: Mapping[str, Any]) -> None: ...


class TradingEngine(Protocol):
    """A trading engine: positions, executing a signal, performance figures."""

    def positions(self) -> dict[str, float]: ...

    async def execute(self, signal: Mapping[str, Any]) -> Mapping[str, Any] | None: ...

    def performance(self) -> dict[str, float]: ...
