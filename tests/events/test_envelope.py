"""The envelope: fields, JSON round trip and clear errors."""

from __future__ import annotations

import asyncio
import copy
import datetime
import math
import pickle

import pytest

from framework.events.envelope import Envelope, new_id
from framework.events.errors import EventDecodeError, EventSerializationError
from framework.events.memory import MemoryBus


def test_json_round_trip_keeps_every_field() -> None:
    """to_json/from_json give back an equal envelope, every field included."""
    envelope = Envelope(
        "market_data.candle.closed",
        {"symbol": "BTC", "close": 1.5, "tags": ["a"]},
        source="feed",
        priority=8,
        correlation_id="c-1",
        causation_id="e-0",
        metadata={"attempts": 2},
        schema_version=3,
    )
    again = Envelope.from_json(envelope.to_json())
    assert again == envelope
    assert again.to_dict() == envelope.to_dict()
    assert again.attempts == 2 and again.schema_version == 3 and again.time == envelope.time


def test_ids_are_unique_and_stable() -> None:
    """Every envelope gets a distinct id, and reading it twice gives the same value."""
    envelopes = [Envelope("a.b") for _ in range(1000)]
    assert len({e.id for e in envelopes}) == 1000
    assert envelopes[0].id == envelopes[0].id
    assert new_id() != new_id()


def test_unserializable_data_names_the_event_type() -> None:
    """Data JSON cannot hold raises EventSerializationError naming the event type."""
    envelope = Envelope("orders.created", {"at": datetime.datetime(2024, 1, 1)})
    with pytest.raises(EventSerializationError, match="event 'orders.created'.*not JSON-serializable"):
        envelope.to_json()
    with pytest.raises(EventSerializationError, match="orders.created"):
        Envelope("orders.created", {"x": math.nan}).to_json()
    assert issubclass(EventSerializationError, TypeError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"not json", "not a JSON envelope"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"id": "x", "type": "a.b"}', "lacks field(s) time"),
        (b'{"id": "x", "type": "a..b", "time": 1}', "segment 2 is empty"),
        (b'{"id": "x", "type": "a.b", "time": 1, "priority": 11}', "priority 11 is invalid"),
        (b'{"id": 5, "type": "a.b", "time": 1}', "field 'id' is 5"),
        (b'{"id": "x", "type": "a.b", "time": 1, "extra": 1}', "unknown field(s) extra"),
    ],
)
def test_decoding_errors_say_what_is_wrong(text: bytes, message: str) -> None:
    """from_json refuses foreign or damaged input with EventDecodeError saying why."""
    with pytest.raises(EventDecodeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Envelope.from_json(text)


def test_with_metadata_copies_and_keeps_the_original() -> None:
    """with_metadata returns a copy; the shared original and its metadata stay unchanged."""
    original = Envelope("a.b", 1, metadata={"k": "v"})
    copy = original.with_metadata(attempts=3)
    assert copy.attempts == 3 and copy.metadata["k"] == "v" and copy.id == original.id
    assert original.attempts == 1 and "attempts" not in original.metadata
    with pytest.raises(TypeError):
        copy.metadata["x"] = 1  # type: ignore[index]


def test_an_envelope_the_memory_bus_built_copies_pickles_and_compares_as_any_other() -> None:
    """The in-memory bus's hot path keeps default fields on the class (DefaultEnvelope, and
    UnattributedEnvelope when no source or ids are given); copies and pickles of such an
    envelope are plain, equal Envelopes."""

    async def scenario() -> list[Envelope]:
        async with MemoryBus() as bus:  # with a source and correlation id, and with neither
            return [
                await bus.publish("a.b", {"x": [1]}, source="s", correlation_id="c"),
                await bus.publish("a.b", {"x": [2]}),
            ]

    attributed, unattributed = asyncio.run(scenario())
    assert (attributed.source, attributed.correlation_id, attributed.causation_id) == ("s", "c", None)
    assert (unattributed.source, unattributed.correlation_id, unattributed.causation_id) == (None, None, None)
    for envelope in (attributed, unattributed):
        assert (envelope.priority, envelope.schema_version, dict(envelope.metadata), envelope.key) == (5, 1, {}, None)
        for copied in (copy.copy(envelope), copy.deepcopy(envelope), pickle.loads(pickle.dumps(envelope))):
            assert type(copied) is Envelope and copied == envelope and copied.id == envelope.id
            assert copied.to_json() == envelope.to_json()
        assert envelope.with_metadata(attempts=2).attempts == 2
        assert Envelope.from_json(envelope.to_json()) == envelope
