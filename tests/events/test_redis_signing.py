"""Signatures bound to their stream: a genuine entry moved to another stream is never handled."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import redis

from framework.events.envelope import Envelope
from framework.events.records import DeadLetterReason
from framework.events.redis.bus import RedisBus
from framework.events.redis.signing import Signer
from framework.events.settings import BusSettings
from framework.health import HEALTH_CHANGED
from framework.lifecycle import ComponentState
from framework.resilience import BreakerState
from framework.testing import RELOAD_EVENTS
from tests.events.conftest import SIGNING_KEY, run, until

Settings = Callable[..., BusSettings]

FRAMEWORK_TOPICS = sorted(
    [f"system.component.{state.value}" for state in ComponentState]
    + [f"system.breaker.{state.value}" for state in BreakerState]
    + [HEALTH_CHANGED, *RELOAD_EVENTS]
)
"""Every topic the framework itself publishes (App, CircuitBreaker, Health, Reloader)."""


def _stream(topic: str) -> str:
    return f"events:{topic}"


@pytest.mark.parametrize(("signed_for", "read_from"), list(itertools.permutations(FRAMEWORK_TOPICS, 2)))
def test_an_entry_moved_to_another_topics_stream_is_refused_naming_both(signed_for: str, read_from: str) -> None:
    """A genuine entry of one framework topic opened in another topic's stream is a wrong_stream entry."""
    signer = Signer(SIGNING_KEY, _stream)
    value = signer.seal(Envelope(signed_for, {"component": "feed"}), _stream(signed_for))
    envelope, reason, error = signer.open_value(value, _stream(read_from))
    assert envelope is None and reason is DeadLetterReason.WRONG_STREAM
    assert f"signed for stream '{_stream(signed_for)}' but read from '{_stream(read_from)}'" in error
    opened = signer.open_value(value, _stream(signed_for))[0]
    assert opened is not None and opened.type == signed_for


def test_a_signature_for_another_prefix_or_without_a_stream_does_not_verify() -> None:
    """The stream key binds the prefix too; an unbound (older) signature is a bad signature."""
    signer = Signer(SIGNING_KEY, _stream)
    envelope = Envelope("jobs.run", 1)
    payload = envelope.to_json().encode()
    other_prefix = signer.seal(envelope, "other:jobs.run")
    unbound = signer.sign(payload) + payload
    for value in (other_prefix, unbound):
        assert signer.open_value(value, "events:jobs.run")[1] is DeadLetterReason.BAD_SIGNATURE
    # Length-prefixed binding: moving a ':' between stream key and payload changes the HMAC.
    assert signer.sign(b":x", "a") != signer.sign(b"x", "a:")


@pytest.mark.redis
def test_moved_entries_are_dead_lettered_for_every_pair_of_framework_topics(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """Each framework topic's genuine entry XADDed into every other one's stream: dead-lettered, never handled."""
    pairs = list(itertools.permutations(FRAMEWORK_TOPICS, 2))

    async def scenario() -> tuple[list[Any], list[Any]]:
        got: list[Any] = []
        async with RedisBus(redis_settings()) as bus:
            await bus.subscribe("**", lambda e: got.append((e.type, e.data)), subscriber="monitor")
            for topic in FRAMEWORK_TOPICS:
                await bus.publish(topic, "genuine")
            await until(lambda: len(got) == len(FRAMEWORK_TOPICS), what="the genuine events")
            genuine = {t: raw_redis.xrange(f"{prefix}:{t}")[0][1] for t in FRAMEWORK_TOPICS}
            for signed_for, read_from in pairs:
                raw_redis.xadd(f"{prefix}:{read_from}", genuine[signed_for])
            await bus.publish("config.reloaded", "after")
            await until(
                lambda: len(got) == len(FRAMEWORK_TOPICS) + 1 and bus.statistics().dead_lettered == len(pairs),
                timeout=10,
                what="every moved entry dead-lettered",
            )
            return got, await bus.dead_letters()

    got, letters = run(scenario())
    assert sorted(got) == sorted([(t, "genuine") for t in FRAMEWORK_TOPICS] + [("config.reloaded", "after")])
    assert {letter.reason for letter in letters} == {DeadLetterReason.WRONG_STREAM}
    assert not any(letter.replayable for letter in letters)
    moved = {(letter.error.split("'")[1], letter.error.split("'")[3]) for letter in letters}
    assert moved == {(f"{prefix}:{a}", f"{prefix}:{b}") for a, b in pairs}
