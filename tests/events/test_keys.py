"""Event keys: carried to the handler, signed, checked, on every backend (no-ops in memory and
on RabbitMQ)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from framework.errors import ValidationError
from framework.events.envelope import Envelope
from framework.events.errors import EventDecodeError
from framework.events.factory import create_bus
from framework.events.keys import MAX_KEY_LENGTH
from framework.events.rabbitmq.connection import Names
from framework.events.settings import BusSettings, TopicSettings
from tests.events.conftest import RabbitNames, run, until


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis), pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def settings(request: pytest.FixtureRequest) -> BusSettings:
    if request.param == "memory":
        return BusSettings()
    if request.param == "rabbitmq":
        names: RabbitNames = request.getfixturevalue("exchange")
        names.queues |= {Names(names.exchange, "").queue("keys", p) for p in ("tick.*", "**")}  # deleted after
        return names.settings()
    build: Callable[..., BusSettings] = request.getfixturevalue("redis_settings")
    return build()


def test_a_key_reaches_the_handler_and_an_event_without_one_has_none(settings: BusSettings) -> None:
    async def scenario() -> list[tuple[str | None, int]]:
        got: list[tuple[str | None, int]] = []
        async with create_bus(settings) as bus:

            async def handler(event: Envelope) -> None:
                got.append((event.key, event.data))

            await bus.subscribe("tick.*", handler, subscriber="keys")
            for number, key in enumerate(["BTCUSDT", None, "ETH/USDT ä", "BTCUSDT"]):
                await bus.publish("tick.seen", number, key=key)
            await until(lambda: len(got) == 4, 5, "four deliveries")
        return got

    assert sorted(run(scenario()), key=lambda pair: pair[1]) == [
        ("BTCUSDT", 0), (None, 1), ("ETH/USDT ä", 2), ("BTCUSDT", 3)
    ]


@pytest.mark.parametrize("key", [5, b"bytes", "", "k" * (MAX_KEY_LENGTH + 1)])
def test_a_key_that_is_not_a_short_str_is_refused(settings: BusSettings, key: object) -> None:
    async def scenario() -> None:
        async with create_bus(settings) as bus:
            with pytest.raises(ValueError, match="event key .* is invalid: use a non-empty str"):
                await bus.publish("tick.seen", 1, key=key)  # type: ignore[arg-type]
            assert bus.history() == []  # nothing was sent

    run(scenario())


def test_the_key_survives_json_and_a_decoded_one_is_checked() -> None:
    envelope = Envelope("tick.seen", {"p": 1}, key="BTCUSDT")
    again = Envelope.from_json(envelope.to_json())
    assert again == envelope and again.key == "BTCUSDT"
    assert Envelope.from_trusted_json(envelope.to_json()).key == "BTCUSDT"
    assert '"key"' not in Envelope("tick.seen", 1).to_json()  # left out when absent
    with pytest.raises(EventDecodeError, match="'key' is 5; expected str or NoneType"):
        Envelope.from_json('{"id": "x", "type": "a.b", "time": 1, "key": 5}')
    with pytest.raises(EventDecodeError, match="event key a str of 0 characters is invalid"):
        Envelope.from_json('{"id": "x", "type": "a.b", "time": 1, "key": ""}')


def test_a_topic_that_declares_its_key_field_keys_its_events_from_their_data(settings: BusSettings) -> None:
    """`event_bus.topics: {tick.seen: {key: symbol}}`: the key comes from the data; a nested
    field is dotted, an int id becomes its text, and an explicit key= still wins."""
    keyed = settings.with_changes(
        topics={"tick.seen": TopicSettings(key="symbol"), "order.placed": TopicSettings(key="order.id")}
    )

    async def scenario() -> list[str | None]:
        got: list[Envelope] = []
        async with create_bus(keyed) as bus:
            await bus.subscribe("**", got.append, subscriber="keys")
            await bus.publish("tick.seen", {"symbol": "BTCUSDT", "price": 1.0})
            await bus.publish("order.placed", {"order": {"id": 42}})
            await bus.publish("tick.seen", {"symbol": "BTCUSDT"}, key="override")
            await bus.publish("other.topic", {"symbol": "not a key here"})
            await bus.publish_many([("tick.seen", {"symbol": "ETHUSDT"}), ("other.topic", 1, "given")])
            await bus.publish_many([("tick.seen", {"symbol": "SOLUSDT"}, "override 2"), ("other.topic", 2, None)])
            await until(lambda: len(got) == 8, 5, "eight deliveries")
        return [e.key for e in sorted(got, key=lambda e: e.time)]

    assert run(scenario()) == ["BTCUSDT", "42", "override", None, "ETHUSDT", "given", "override 2", None]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"price": 1.0}, "this event's data has no 'symbol'"),
        ("BTCUSDT", "this event's data has no 'symbol'"),
        ({"symbol": 1.5}, "which is float here; a key field holds a str or an int"),
        ({"symbol": ""}, "event key a str of 0 characters is invalid"),
    ],
)
def test_an_event_whose_key_field_is_missing_or_not_a_key_is_refused(
    settings: BusSettings, data: object, problem: str
) -> None:
    """A key silently missing would scatter the events it should keep together: refused."""
    keyed = settings.with_changes(topics={"tick.seen": TopicSettings(key="symbol")})

    async def scenario() -> None:
        async with create_bus(keyed) as bus:
            with pytest.raises(ValueError, match=re.escape(problem)):
                await bus.publish("tick.seen", data)
            assert bus.history() == []

    run(scenario())


def test_partition_settings_are_checked() -> None:
    settings = BusSettings.from_config({"partitions": 4, "topics": {"market.tick": {"key": "symbol"},
                                                                   "big.one": {"partitions": 64}}})
    assert (settings.partitions_of("market.tick"), settings.partitions_of("big.one")) == (4, 64)
    assert (settings.key_field("market.tick"), settings.key_field("big.one"), settings.key_field("x")) == (
        "symbol", None, None
    )
    bad = {
        "topics": {"market tick": {}},
        "partitions": 0,
    }
    with pytest.raises(ValidationError) as caught:
        BusSettings.from_config(bad)
    assert sorted(caught.value.problems) == [
        "event_bus.partitions: must be >= 1 (got 0)",
        "event_bus.topics.market tick: must match the pattern [A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)* (got 'market tick')",
    ]
    with pytest.raises(ValidationError, match="heartbeat_ms: must be at most a third of lease_ms"):
        BusSettings.from_config({"redis": {"lease_ms": 3000, "heartbeat_ms": 1500}})
