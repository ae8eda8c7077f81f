"""Event keys: carried to the handler, signed, checked, on both backends (no-ops in memory)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from framework.events.envelope import MAX_KEY_LENGTH, Envelope
from framework.events.errors import EventDecodeError
from framework.events.factory import create_bus
from framework.events.settings import BusSettings
from tests.events.conftest import run, until


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest) -> BusSettings:
    if request.param == "memory":
        return BusSettings()
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
