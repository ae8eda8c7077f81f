"""A paper trading engine: fills signals at the last price, within the risk limits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from components.contracts import RiskLimits, TradeSink, TradeStore, TradingEngine
from components.events import Signal, Tick, Trade, TradeRefused
from framework import ExtensionPoint


class PaperTrader:
    version = "1.0.0"
    provides = (TradingEngine,)
    publishes = ("trade.executed", "trade.refused")
    subscribes = ("signal.generated", "market.tick")
    payloads = {"trade.executed": Trade, "trade.refused": TradeRefused}
    requires = {"signal.generated": Signal, "market.tick": Tick}
    # Components that extend trade_sinks (the shipped journal) get every executed trade.
    extension_points = {"trade_sinks": ExtensionPoint(TradeSink)}
    config_schema = {
        "order_size": {"type": "number", "min": 0.000001, "default": 1.0},
        "summary_interval": {"type": "number", "min": 0.1, "default": 5.0, "description": "seconds between summaries"},
    }

    def __init__(
        self, config: Mapping[str, Any], risk: RiskLimits, storage: TradeStore, bus: Any, logger: Any,
        tasks: Any, trade_sinks: Sequence[TradeSink] = (), resilience: Any = None,
    ) -> None:
        self.config, self.risk, self.storage, self.bus, self.log = config, risk, storage, bus, logger
        self.trade_sinks = list(trade_sinks)
        self.tasks = tasks
        # A store that keeps failing opens the breaker: orders are refused at once, not hammered in.
        self._record = resilience.breaker("trade_store")(self._store) if resilience else self._store
        self.last_price: dict[str, float] = {}
        self.trades = 0
        self.refused = 0

    async def start(self) -> None:
        recovered = self.storage.positions()
        if recovered:
            self.log.bind(positions=recovered).info(f"recovered positions {recovered}")
        self.subscriptions = [
            await self.bus.subscribe("market.tick", self._on_tick),
            await self.bus.subscribe("signal.generated", self._on_signal),
        ]
        self.tasks.spawn(self._summarize(), name="trader-summary")  # the framework watches and stops it

    async def stop(self) -> None:
        for subscription in self.subscriptions:
            subscription.cancel()
        self.log.info(f"final {self._summary_line()}")

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config

    def on_extensions_change(self, providers: Mapping[str, Sequence[TradeSink]]) -> None:
        """A reload enabled, disabled, added or removed a trade sink: trades go to these now."""
        self.trade_sinks = list(providers["trade_sinks"])
        self.log.info(f"trade sinks now: {len(self.trade_sinks)}")

    def positions(self) -> dict[str, float]:
        return self.storage.positions()

    def performance(self) -> dict[str, float]:
        positions = self.storage.positions()
        value = sum(q * self.last_price.get(s, 0.0) for s, q in positions.items())
        return {"cash": round(self.storage.cash(), 4), "pnl": round(self.storage.cash() + value, 4),
                "trades": float(self.trades), "refused": float(self.refused)}

    async def execute(self, signal: Mapping[str, Any]) -> Mapping[str, Any] | None:
        symbol, side = signal["symbol"], signal["side"]
        quantity = self.config["order_size"]
        position = self.storage.positions().get(symbol, 0.0)
        reason = self.risk.check_order(symbol, side, quantity, position)
        if reason:
            self.refused += 1
            self.log.info(f"order refused: {side} {quantity} {symbol}: {reason}")
            await self.bus.publish("trade.refused", {"symbol": symbol, "side": side, "reason": reason})
            return None
        price = self.last_price.get(symbol, signal["price"])
        trade = {"id": uuid.uuid4().hex, "time": time.time(), "symbol": symbol, "side": side,
                 "quantity": quantity, "price": price}
        try:
            await self._record(trade)  # committed before it counts anywhere else
        except Exception as exc:  # never trade what cannot be recorded
            return await self._refuse(symbol, side, quantity, f"trade store unavailable: {exc}")
        self.trades += 1
        self.log.bind(trade_id=trade["id"]).info(f"trade {side} {quantity} {symbol} @ {price:.2f}")
        await self.bus.publish("trade.executed", trade)
        for sink in self.trade_sinks:
            try:
                sink.record(trade)
            except Exception as exc:  # a sink's failure never undoes a stored trade
                self.log.warning(f"trade sink {type(sink).__name__} failed: {type(exc).__name__}: {exc}")
        return trade

    async def _store(self, trade: Mapping[str, Any]) -> bool:
        return self.storage.record_trade(trade)

    async def _refuse(self, symbol: str, side: str, quantity: float, reason: str) -> None:
        self.refused += 1
        self.log.warning(f"order refused: {side} {quantity} {symbol}: {reason}")
        await self.bus.publish("trade.refused", {"symbol": symbol, "side": side, "reason": reason})

    async def _on_tick(self, tick: Tick) -> None:
        self.last_price[tick.symbol] = tick.price

    async def _on_signal(self, signal: Signal) -> None:
        await self.execute(asdict(signal))

    async def _summarize(self) -> None:
        while True:
            await asyncio.sleep(self.config["summary_interval"])
            self.log.info(f"summary {self._summary_line()}")

    def _summary_line(self) -> str:
        figures = self.performance()
        return (f"positions={self.storage.positions()} cash={figures['cash']:.2f} pnl={figures['pnl']:.2f}"
                f" trades={self.trades} refused={self.refused}")
