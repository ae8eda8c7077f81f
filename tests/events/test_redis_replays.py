"""The replay guard against a real Redis: copies XADDed back are dead-lettered, stale events expire."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from framework.events.envelope import Envelope
from framework.events.records import DeadLetter, DeadLetterReason
from framework.events.redis.bus import RedisBus
from framework.events.redis.replays import CLOCK_SKEW_S
from framework.events.redis.signing import Signer
from framework.events.settings import BusSettings
from tests.events.conftest import SIGNING_KEY, run, until

pytestmark = pytest.mark.redis
Settings = Callable[..., BusSettings]


def _copy(raw_redis: redis.Redis, stream: str, entry_id: bytes, times: int) -> list[bytes]:
    """XADD the fields of an entry again, as anyone who can write to Redis could."""
    [(_, fields)] = raw_redis.xrange(stream, entry_id, entry_id)
    return [raw_redis.xadd(stream, fields) for _ in range(times)]


@pytest.mark.parametrize("copies", [1, 5])
def test_copies_of_a_handled_entry_are_dead_lettered_by_every_subscriber(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str, copies: int
) -> None:
    """Copies XADDed after the event was handled are dead-lettered 'replayed' in each group, never handled."""
    stream = f"{prefix}:orders.created"

    async def scenario() -> tuple[dict[str, list[Any]], list[DeadLetter], list[bytes]]:
        got: dict[str, list[Any]] = {"store": [], "audit": []}
        async with RedisBus(redis_settings()) as bus:
            for name, seen in got.items():
                await bus.subscribe("orders.created", lambda e, seen=seen: seen.append(e.data), subscriber=name)
            await bus.publish("orders.created", {"id": 7})
            await until(lambda: all(len(seen) == 1 for seen in got.values()))
            [(original, _)] = raw_redis.xrange(stream)
            added = _copy(raw_redis, stream, original, copies)
            await bus.publish("orders.created", "after")
            await until(lambda: all(len(seen) == 2 for seen in got.values()) and bus.statistics().dead_lettered == 2 * copies)
            return got, await bus.dead_letters(), [original, *added]

    got, letters, (original, *added) = run(scenario())
    assert got == {"store": [{"id": 7}, "after"], "audit": [{"id": 7}, "after"]}
    assert {letter.reason for letter in letters} == {DeadLetterReason.REPLAYED}
    assert sorted(letter.subscriber for letter in letters) == ["audit"] * copies + ["store"] * copies
    assert all(f"a copy of entry {original.decode()}" in letter.error for letter in letters)
    assert not any(letter.replayable for letter in letters) and all(letter.raw for letter in letters)
    for group in ("store", "audit"):
        assert raw_redis.xpending(stream, group)["pending"] == 0


@pytest.mark.parametrize("copies", [1, 5])
def test_copies_read_in_one_backlog_with_their_original_leave_one_handled(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str, copies: int
) -> None:
    """Original and copies waiting together (blocking read, then packed reads) give one delivery."""
    stream = f"{prefix}:jobs.run"

    async def scenario() -> tuple[list[Any], list[DeadLetter]]:
        got: list[Any] = []
        async with RedisBus(redis_settings(queue_size=2)) as bus:  # a batch is 2 entries
            (await bus.subscribe("jobs.run", got.append, subscriber="w")).cancel()  # group only
            await bus.publish("jobs.run", "once")
            [(original, _)] = raw_redis.xrange(stream)
            _copy(raw_redis, stream, original, copies)
            await bus.publish("jobs.run", "after")
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            await until(lambda: len(got) == 2 and bus.statistics().dead_lettered == copies)
            return got, await bus.dead_letters()

    got, letters = run(scenario())
    assert got == ["once", "after"]
    assert [letter.reason for letter in letters] == [DeadLetterReason.REPLAYED] * copies
    assert raw_redis.xpending(stream, "w")["pending"] == 0


def test_a_copy_parked_with_a_dead_consumer_is_not_handled_when_claimed(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """A copy read into a ghost consumer and claimed after claim_idle_ms is dead-lettered, not handled."""
    stream = f"{prefix}:jobs.run"

    async def scenario() -> tuple[list[Any], list[DeadLetter]]:
        got: list[Any] = []
        async with RedisBus(redis_settings()) as bus:
            subscription = await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            await bus.publish("jobs.run", "once")
            await until(lambda: got == ["once"])
            subscription.cancel()  # keep the group, stop reading
            [(original, _)] = raw_redis.xrange(stream)
            _copy(raw_redis, stream, original, 1)
            raw_redis.xreadgroup("w", "ghost", {stream: ">"}, count=10)  # pending with a ghost
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            await until(lambda: bus.statistics().dead_lettered == 1, timeout=4)
            await bus.publish("jobs.run", "after")
            await until(lambda: len(got) == 2)
            return got, await bus.dead_letters()

    got, (letter,) = run(scenario())
    assert got == ["once", "after"] and letter.reason is DeadLetterReason.REPLAYED
    assert raw_redis.xpending(stream, "w")["pending"] == 0


def _forge(stream: str, data: Any, signed: float) -> dict[bytes, bytes]:
    """A genuine-looking entry signed with the bus's key at the UNIX time ``signed``."""
    return Signer(SIGNING_KEY).fields(Envelope("jobs.run", data, time=signed), stream)


def test_an_event_signed_outside_the_replay_window_is_dead_lettered_expired(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """Signed longer ago than replay_window, or too far ahead: 'expired', replayable by id only."""
    stream = f"{prefix}:jobs.run"

    async def scenario() -> tuple[list[Any], list[DeadLetter], int]:
        got: list[Any] = []
        async with RedisBus(redis_settings(redis={"replay_window": 600})) as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            raw_redis.xadd(stream, _forge(stream, "old", time.time() - 601))
            raw_redis.xadd(stream, _forge(stream, "ahead", time.time() + CLOCK_SKEW_S + 30))
            raw_redis.xadd(stream, _forge(stream, "recent", time.time() - 500))
            await until(lambda: got == ["recent"] and bus.statistics().dead_lettered == 2)
            letters = await bus.dead_letters()
            replayed = await bus.replay_dead_letters()  # the bulk replay leaves expired ones
            return got, letters, replayed

    got, (old, ahead), replayed = run(scenario())
    assert got == ["recent"] and replayed == 0
    assert old.reason is ahead.reason is DeadLetterReason.EXPIRED
    assert "longer than event_bus.redis.replay_window (600 s)" in old.error
    assert "in the future" in ahead.error
    assert old.envelope is not None and old.envelope.data == "old" and not old.replayable


def test_an_expired_dead_letter_replayed_by_id_is_handled_and_its_copies_are_not(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """A replay is signed anew (replayed_at): it is handled though old; a copy of it is 'replayed'."""
    stream = f"{prefix}:jobs.run"

    async def scenario() -> tuple[list[Any], list[DeadLetter]]:
        got: list[Any] = []
        async with RedisBus(redis_settings()) as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            raw_redis.xadd(stream, _forge(stream, "late", time.time() - 7200))
            await until(lambda: bus.statistics().dead_lettered == 1)
            [letter] = await bus.dead_letters()
            await bus.replay_dead_letter(letter.id)
            await until(lambda: got == ["late"])
            [(replay, _)] = raw_redis.xrevrange(stream, count=1)
            _copy(raw_redis, stream, replay, 1)
            await until(lambda: bus.statistics().dead_lettered == 2)
            return got, await bus.dead_letters()

    got, (letter,) = run(scenario())
    assert got == ["late"] and letter.reason is DeadLetterReason.REPLAYED


def test_a_consumer_reading_a_backlog_older_than_the_window_dead_letters_it(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """The trade-off: events that waited longer than replay_window to be read are 'expired', not lost."""

    async def scenario() -> tuple[list[Any], list[DeadLetter]]:
        got: list[Any] = []
        settings = redis_settings(redis={"replay_window": 1, "max_deliveries": 2})
        async with RedisBus(settings) as bus:
            (await bus.subscribe("jobs.run", got.append, subscriber="w")).cancel()  # group only
            await bus.publish("jobs.run", "waited")
            await asyncio.sleep(1.2)
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            await until(lambda: bus.statistics().dead_lettered == 1)
            return got, await bus.dead_letters()

    got, (letter,) = run(scenario())
    assert got == [] and letter.reason is DeadLetterReason.EXPIRED
    assert letter.envelope is not None and letter.envelope.data == "waited"
