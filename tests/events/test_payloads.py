"""Declared payloads on the bus: publish refuses data that breaks the publisher's declaration
(naming topic, field and rule), stamps its schema version, and subscribers get typed objects
and older versions upcast, in one process and from another process over Redis."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from framework import Envelope, Payload, PayloadValidationError
from framework.events.bus import ScopedBus
from framework.events.memory import MemoryBus
from framework.events.payloads import ComponentPayloads, Declarations, Declared
from framework.events.redis.bus import RedisBus
from framework.events.settings import BusSettings
from tests.events.conftest import SIGNING_KEY, run, until


@dataclass
class Quote:
    symbol: str
    price: float


class Fill(BaseModel):
    symbol: str
    quantity: int


class Order(TypedDict):
    symbol: str
    side: str


def _payloads(owner: str, publishes: dict[str, Any] | None = None, requires: dict[str, Any] | None = None) -> ComponentPayloads:
    def compiled(declared: dict[str, Any] | None) -> Declarations:
        return Declarations({t: Declared(t, owner, f"{owner}.test", d) for t, d in (declared or {}).items()})

    return ComponentPayloads(compiled(publishes), compiled(requires))


def _scoped(bus: Any, owner: str, **declared: Any) -> ScopedBus:
    return bus.scoped(owner, payloads=_payloads(owner, **declared))


@pytest.mark.parametrize(
    ("declaration", "data", "expected"),
    [
        ({"price": {"type": "number", "required": True}}, {"price": "high"}, "field 'price' must be of type number (got 'high')"),
        ({"price": {"type": "number", "required": True}}, {}, "field 'price' required key is missing"),
        (Quote, {"symbol": "X", "price": "high"}, "field 'price' input should be a valid number"),
        (Fill, {"symbol": "X"}, "field 'quantity' field required (rule missing"),
        (Order, {"symbol": "X", "side": 3}, "field 'side' input should be a valid string (rule string_type, got 3)"),
    ],
)
def test_publish_refuses_data_that_breaks_the_declaration(declaration: Any, data: Any, expected: str) -> None:
    async def scenario() -> str:
        async with MemoryBus() as bus:
            feed = _scoped(bus, "feed", publishes={"market.quote": declaration})
            with pytest.raises(PayloadValidationError) as caught:
                await feed.publish("market.quote", data)
            assert bus.statistics().published == 0  # nothing went out
            return str(caught.value)

    message = run(scenario())
    assert "event 'market.quote' payload is invalid (against feed's payload v1)" in message
    assert expected in message


def test_publish_sends_the_checked_data_with_its_version_and_undeclared_topics_untouched() -> None:
    async def scenario() -> list[Envelope]:
        async with MemoryBus() as bus:
            got: list[Envelope] = []
            await bus.subscribe("market.*", got.append)
            feed = _scoped(bus, "feed", publishes={"market.quote": Payload(Quote, version=3)})
            await feed.publish("market.quote", Quote("BTC", 101))  # an object travels as JSON data
            raw = {"anything": object()}
            await feed.publish("market.other", raw)
            await until(lambda: len(got) == 2)
            assert got[1].data is raw  # no declaration: not even copied
            return got

    quote, other = run(scenario())
    assert (quote.data, quote.schema_version, other.schema_version) == ({"symbol": "BTC", "price": 101.0}, 3, 1)


def test_a_handler_annotated_with_a_model_receives_the_object() -> None:
    received: list[Any] = []

    async def on_quote(quote: Quote) -> None:
        received.append(quote)

    def on_fill(fill: Fill) -> None:  # plain functions too
        received.append(fill)

    async def scenario() -> None:
        async with MemoryBus() as bus:
            trader = _scoped(bus, "trader")
            await trader.subscribe("market.quote", on_quote)
            await trader.subscribe("trade.fill", on_fill)
            await bus.publish("market.quote", {"symbol": "BTC", "price": 1.5})
            await bus.publish("trade.fill", {"symbol": "BTC", "quantity": 2})
            await until(lambda: len(received) == 2)

    run(scenario())
    assert received == [Quote("BTC", 1.5), Fill(symbol="BTC", quantity=2)]


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {"symbol": data["ticker"], "price": data["price"]}


def test_an_older_version_arrives_upcast_and_a_missing_upcaster_dead_letters() -> None:
    async def scenario() -> tuple[list[Envelope], str]:
        async with MemoryBus() as bus:
            got: list[Envelope] = []
            reader = _scoped(bus, "reader", requires={"market.*": Payload(Quote, version=2, upcast={1: _v1_to_v2})})
            await reader.subscribe("market.quote", got.append)
            strict = _scoped(bus, "strict", requires={"market.quote": Payload(Quote, version=3)})
            await strict.subscribe("market.quote", lambda e: None, max_retries=0)
            await bus.publish("market.quote", {"ticker": "ETH", "price": 2.0})  # version 1
            await bus.publish("market.quote", {"symbol": "BTC", "price": 3.0}, schema_version=2)
            await until(lambda: len(got) == 2 and bus.statistics().dead_lettered == 2)
            letters = await bus.dead_letters()
            return got, letters[0].error

    got, error = run(scenario())
    assert [(e.data, e.schema_version) for e in got] == [({"symbol": "ETH", "price": 2.0}, 2), ({"symbol": "BTC", "price": 3.0}, 2)]
    assert "'strict' requires 'market.quote' at schema version 3 and has no upcaster from version 1" in error


OLDER_PUBLISHER = """
import asyncio, sys
from framework.events.redis.bus import RedisBus
from framework.events.settings import BusSettings

async def main():
    settings = BusSettings.from_config({"backend": "redis", "redis": {"url": sys.argv[1], "stream_prefix": sys.argv[2],
                                        "signing_key": sys.argv[3]}})
    async with RedisBus(settings) as bus:  # a process of the old version: no declaration, version 1
        await bus.publish("market.quote", {"ticker": "ETH", "price": 2.5})

asyncio.run(main())
"""


@pytest.mark.redis
def test_events_an_older_process_published_over_redis_arrive_upcast(
    redis_url: str, prefix: str, redis_settings: Callable[..., BusSettings]
) -> None:
    async def scenario() -> list[Any]:
        received: list[Any] = []

        async def on_quote(quote: Quote) -> None:
            received.append(quote)

        async with RedisBus(redis_settings()) as bus:
            reader = _scoped(bus, "reader", requires={"market.quote": Payload(Quote, version=2, upcast={1: _v1_to_v2})})
            await reader.subscribe("market.quote", on_quote)
            older = textwrap.dedent(OLDER_PUBLISHER)
            done = subprocess.run([sys.executable, "-c", older, redis_url, prefix, SIGNING_KEY], timeout=30,
                                  capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            await until(lambda: len(received) == 1, timeout=10, what="the upcast event")
        return received

    assert run(scenario(), timeout=40) == [Quote("ETH", 2.5)]
