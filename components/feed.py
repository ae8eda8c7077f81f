"""A simulated market feed: a seedable random walk of prices, published as `market.tick`."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping
from typing import Any


class MarketFeed:
    version = "1.2.0"
    publishes = ("market.tick",)
    config_schema = {
        "symbols": {
            "type": "list",
            "minlength": 1,
            "schema": {"type": "string", "regex": r"^[A-Z0-9]{2,20}$"},
            "default": ["BTCUSDT"],
            "description": "instruments to simulate, upper-case tickers",
        },
        "interval": {"type": "number", "min": 0.001, "default": 0.2, "description": "seconds between ticks"},
        "start_price": {"type": "number", "min": 0.01, "default": 100.0},
        "volatility": {"type": "number", "min": 0, "max": 1, "default": 0.01},
        "seed": {"type": "integer", "nullable": True, "default": 42, "reload": "restart"},
    }

    def __init__(self, config: Mapping[str, Any], bus: Any, logger: Any) -> None:
        self.config, self.bus, self.log = config, bus, logger
        self.random = random.Random(config["seed"])
        self.prices: dict[str, float] = {}
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="market-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config
        self.log.info(f"now {config['interval']} s between ticks for {', '.join(config['symbols'])}")

    async def _run(self) -> None:
        while True:
            for symbol in self.config["symbols"]:
                price = self.prices.get(symbol, self.config["start_price"])
                price *= math.exp(self.random.gauss(0, self.config["volatility"]))
                self.prices[symbol] = round(price, 4)
                await self.bus.publish("market.tick", {"symbol": symbol, "price": self.prices[symbol]})
            self.ticks += 1
            if self.ticks % 25 == 0:
                shown = ", ".join(f"{s}={p:.2f}" for s, p in self.prices.items())
                self.log.info(f"prices {shown}")
            await asyncio.sleep(self.config["interval"])
