"""What declared payloads cost a publish on the in-memory bus, beside the bare bus, in one run.

    python bench/payloads.py      (bench/bus.py prints the same figures in its table and JSON)

Contenders, each 1,000 publishes of one market.tick to one no-op subscriber, best batch of many:
- bare: ``bus.publish`` (the fast path);
- scoped: a component's ``ScopedBus`` that declares no payload (the claim: it costs nothing),
  beside ``before``: ScopedBus.publish as it was before payloads could be declared;
- scoped, other topic: a component that declares payloads, publishing a topic it does not declare;
- dataclass / cerberus: a declared topic, its data checked (and a dataclass turned into JSON data);
- peer: Pydantic's ``TypeAdapter.validate_python`` + ``dump_python`` alone, the floor of checking.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from framework.events.bus import ScopedBus
from framework.events.envelope import Envelope
from framework.events.memory import MemoryBus
from framework.events.payloads import ComponentPayloads, Declarations, Declared
from framework.events.settings import BusSettings

BATCH, ROUNDS = 1000, 60
TOPIC = "market.tick"


@dataclass
class Tick:
    symbol: str
    price: float


DATA = {"symbol": "BTC-USD", "price": 64123.5}
CERBERUS = {"symbol": {"type": "string", "required": True}, "price": {"type": "number", "required": True}}


class _Before(ScopedBus):
    """ScopedBus.publish before declared payloads: the topic check, then the bus."""

    async def publish(self, topic: str, data: Any = None, **options: Any) -> Envelope:
        self._check_publish(topic)
        return await self.bus.publish(topic, data, source=self.component, **options)


def _payloads(declared: dict[str, Any]) -> ComponentPayloads:
    compiled = Declarations({t: Declared(t, "feed", "bench", d) for t, d in declared.items()})
    return ComponentPayloads(compiled, Declarations({}))


async def _drain(bus: MemoryBus) -> None:
    while any(info.queue_depth for info in bus.subscriptions()):
        await asyncio.sleep(0)


def _timed(bus: MemoryBus, publish: Callable[..., Awaitable[Any]], topic: str, data: Any) -> Callable[[], Awaitable[float]]:
    async def batch() -> float:
        started = time.perf_counter()
        for _ in range(BATCH):
            await publish(topic, data)
        elapsed = time.perf_counter() - started
        await _drain(bus)
        return elapsed

    return batch


def _peer() -> Callable[[], Awaitable[float]]:
    adapter = TypeAdapter(Tick)

    async def batch() -> float:
        validate, dump = adapter.validate_python, adapter.dump_python
        started = time.perf_counter()
        for _ in range(BATCH):
            dump(validate(DATA), mode="json")
        return time.perf_counter() - started

    return batch


async def payload_figures() -> dict[str, float]:
    """Publishes per second of each contender; contenders interleaved round by round."""
    bus = MemoryBus(BusSettings(queue_size=BATCH * 2, history_size=1000))
    await bus.start()
    await bus.subscribe("**", lambda e: None, subscriber="sink")
    plain = bus.scoped("feed")
    declaring = bus.scoped("feed", payloads=_payloads({TOPIC: Tick, "market.other": Tick}))
    cerberus = bus.scoped("feed", payloads=_payloads({TOPIC: CERBERUS}))
    contenders = {
        "bare": _timed(bus, bus.publish, TOPIC, DATA),
        "before": _timed(bus, _Before(bus, "feed").publish, TOPIC, DATA),
        "scoped": _timed(bus, plain.publish, TOPIC, DATA),
        "scoped_other_topic": _timed(bus, declaring.publish, "market.quote", DATA),
        "dataclass": _timed(bus, declaring.publish, TOPIC, Tick("BTC-USD", 64123.5)),
        "cerberus": _timed(bus, cerberus.publish, TOPIC, DATA),
        "pydantic_alone": _peer(),
    }
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, batch in contenders.items():
            best[name] = min(best.get(name, float("inf")), await batch())
    await bus.stop()
    return {name: BATCH / seconds for name, seconds in best.items()}


def summary(rates: dict[str, float]) -> dict[str, Any]:
    return {
        "payload_publish_per_s": {k: round(v) for k, v in rates.items()},
        "undeclared_scoped_vs_before": round(rates["scoped"] / rates["before"], 2),
        "declared_dataclass_vs_bare": round(rates["dataclass"] / rates["bare"], 2),
        "dataclass_check_us": round(1e6 / rates["dataclass"] - 1e6 / rates["scoped"], 2),
        "pydantic_alone_us": round(1e6 / rates["pydantic_alone"], 2),
    }


def table(r: dict[str, Any]) -> list[str]:
    rates = r["payload_publish_per_s"]
    return [
        "declared payloads, in-memory publish (events/s)",
        "  " + "  ".join(f"{name} {rate:,}" for name, rate in rates.items()),
        f"  undeclared scoped / before = {r['undeclared_scoped_vs_before']}; a dataclass check adds"
        f" {r['dataclass_check_us']} us (Pydantic alone: {r['pydantic_alone_us']} us)",
    ]


if __name__ == "__main__":
    result = summary(asyncio.run(payload_figures()))
    print("\n".join(table(result)))
    print(json.dumps(result))
