"""Moving-average crossover: a `signal.generated` each time the fast average crosses the slow."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from components.events import Signal, Tick


class CrossoverAnalyzer:
    version = "1.0.0"
    publishes = ("signal.generated",)
    subscribes = ("market.tick",)
    payloads = {"signal.generated": Signal}
    requires = {"market.tick": Tick}
    config_schema = {
        "fast_window": {
            "type": "integer",
            "min": 1,
            "default": 5,
            "description": "ticks in the fast average",
        },
        "slow_window": {
            "type": "integer",
            "min": 2,
            "default": 20,
            "description": "ticks in the slow average",
        },
    }

    def __init__(self, config: Mapping[str, Any], bus: Any, logger: Any) -> None:
        self.config, self.bus, self.log = config, bus, logger
        self.history: dict[str, deque[float]] = {}
        self.trend: dict[str, int] = {}
        self.signals = 0
        self.ticks = 0

    @staticmethod
    def validate_config(config: Mapping[str, Any]) -> list[str]:
        """Each window is valid alone; together the fast one must be the smaller. Run by
        `integrate check`, at launch and on every reload, before anything is built."""
        if config["fast_window"] >= config["slow_window"]:
            return [f"fast_window: must be smaller than slow_window ({config['slow_window']})"]
        return []

    async def start(self) -> None:
        self.subscription = await self.bus.subscribe("market.tick", self.on_tick)

    async def stop(self) -> None:
        self.subscription.cancel()

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config  # validate_config has checked the windows together
        self.trend.clear()  # a new window starts a new comparison
        self.log.info(f"windows now fast={config['fast_window']} slow={config['slow_window']}")

    def on_partitions_assigned(self, partitions: frozenset[Any]) -> None:
        """This process now gets these partitions' ticks (on Redis, with market.tick keyed)."""
        names = ", ".join(sorted(str(p) for p in partitions))
        self.log.bind(event="analyzer.partitions_assigned").info(f"now analyzing {names}")

    def on_partitions_revoked(self, partitions: frozenset[Any]) -> None:
        """Another process takes these partitions' symbols over: their windows are dropped here.

        The new owner starts its windows afresh: its first signal for a symbol comes once it
        has seen slow_window ticks of it (kept in memory only; see the README's walkthrough).
        """
        gone = sorted(s for s in self.history if any(p.topic == "market.tick" and p.holds(s) for p in partitions))
        for symbol in gone:
            self.history.pop(symbol, None)
            self.trend.pop(symbol, None)
        self.log.bind(event="analyzer.partitions_revoked", symbols=gone).info(
            f"handing over {', '.join(sorted(str(p) for p in partitions))}; dropped {', '.join(gone) or 'no'} windows"
        )

    async def on_tick(self, tick: Tick) -> None:
        symbol, price = tick.symbol, tick.price
        self.ticks += 1
        if self.ticks % 50 == 0:
            self.log.bind(ticks=self.ticks).info(f"analyzed {self.ticks} ticks")
        prices = self.history.setdefault(symbol, deque(maxlen=1000))
        prices.append(price)
        fast, slow = self.config["fast_window"], self.config["slow_window"]
        if len(prices) < slow:
            return
        recent = list(prices)
        trend = 1 if sum(recent[-fast:]) / fast > sum(recent[-slow:]) / slow else -1
        previous = self.trend.get(symbol)
        self.trend[symbol] = trend
        if previous is not None and previous != trend:
            side = "buy" if trend > 0 else "sell"
            self.signals += 1
            self.log.info(f"signal {side} {symbol} at {price:.2f} (fast={fast} slow={slow})")
            await self.bus.publish("signal.generated", Signal(symbol, side, price, fast, slow))
