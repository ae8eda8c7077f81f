"""A simulated market feed: a seedable random walk of prices, published as `market.tick`.

The bus may blip (Redis restarting): each publish is retried with backoff through the
`resilience` service (`error_handling.retry`). A tick that still cannot be published is
dropped, the feed reports itself unhealthy until one goes through, and the next tick tries again.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from components.events import Tick
from framework import BusConnectionError

if TYPE_CHECKING:
    from framework import ComponentTasks, Resilience


class MarketFeed:
    version = "1.3.0"
    publishes = ("market.tick",)
    payloads = {"market.tick": Tick}
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

    def __init__(
        self, config: Mapping[str, Any], bus: Any, logger: Any, tasks: ComponentTasks, resilience: Resilience
    ) -> None:
        self.config, self.bus, self.log, self.tasks = config, bus, logger, tasks
        self.random = random.Random(config["seed"])
        self.prices: dict[str, float] = {}
        self.ticks = 0
        self.dropped = 0  # ticks not published since publishing last worked
        self.failing: str | None = None  # why the last tick could not be published
        self._publish = resilience.retry(self._publish_tick, retry_on=(BusConnectionError,))

    async def start(self) -> None:
        self.tasks.spawn(self._run(), name="market-feed")  # watched by the framework

    async def stop(self) -> None:
        """Nothing to do: the framework cancels the task it spawned."""

    def on_config_change(self, config: Mapping[str, Any], changed: frozenset[str]) -> None:
        self.config = config
        self.log.info(f"now {config['interval']} s between ticks for {', '.join(config['symbols'])}")

    def health(self) -> Mapping[str, Any]:
        if self.failing:
            return {"status": "unhealthy", "error": self.failing, "dropped_ticks": self.dropped}
        return {"status": "healthy", "ticks": self.ticks}

    async def _run(self) -> None:
        while True:
            await self._tick()
            await asyncio.sleep(self.config["interval"])

    async def _tick(self) -> None:
        try:
            for symbol in self.config["symbols"]:
                price = self.prices.get(symbol, self.config["start_price"])
                price *= math.exp(self.random.gauss(0, self.config["volatility"]))
                self.prices[symbol] = round(price, 4)
                await self._publish(symbol, self.prices[symbol])
        except BusConnectionError as exc:
            self._dropped(exc)
            return
        if self.failing:
            self.log.info(f"publishing again after {self.dropped} dropped tick(s)")
            self.failing, self.dropped = None, 0
        self.ticks += 1
        if self.ticks % 25 == 0:
            shown = ", ".join(f"{s}={p:.2f}" for s, p in self.prices.items())
            self.log.info(f"prices {shown}")

    async def _publish_tick(self, symbol: str, price: float) -> None:
        await self.bus.publish("market.tick", Tick(symbol, price))

    def _dropped(self, exc: BusConnectionError) -> None:
        if self.failing is None:
            self.log.warning(f"cannot publish market.tick, dropping ticks until it works again: {exc}")
        self.failing = f"cannot publish market.tick: {exc}"
        self.dropped += 1
