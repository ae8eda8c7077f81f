"""The Redis Streams backend against a real Redis: groups, acks, signing, claims, outages."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from framework.events.envelope import Envelope
from framework.events.errors import (
    BusConnectionError,
    DuplicateSubscriberError,
    EventSerializationError,
    PayloadValidationError,
)
from framework.events.factory import create_bus
from framework.events.records import DeadLetterReason
from framework.events.redis.bus import RedisBus
from framework.events.redis.scripts import unpack
from framework.events.redis.signing import Signer
from framework.events.settings import BusSettings
from tests.events.conftest import SIGNING_KEY, run, until
from tests.events.conftest import Proxy as _Proxy

pytestmark = pytest.mark.redis
Settings = Callable[..., BusSettings]


def test_publish_appends_to_a_stream_per_topic_and_registers_the_topic(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """Each topic is a stream '{prefix}:{topic}', trimmed near maxlen, listed in the topic set."""

    async def scenario() -> Envelope:
        async with RedisBus(redis_settings(redis={"maxlen": 10})) as bus:
            last = None
            for i in range(300):
                last = await bus.publish("market.tick", {"i": i})
            await bus.publish("market.candle.closed", {"c": 1})
            assert bus.statistics().published == 301 and bus.history(1)[0].type == "market.candle.closed"
            return last  # type: ignore[return-value]

    last = run(scenario())
    assert raw_redis.smembers(f"{prefix}:@topics") == {b"market.tick", b"market.candle.closed"}
    assert 10 <= raw_redis.xlen(f"{prefix}:market.tick") < 300  # approximate MAXLEN trimming
    ((entry_id, fields),) = raw_redis.xrevrange(f"{prefix}:market.tick", count=1)
    signature, payload = fields[b"e"][:64], fields[b"e"][64:]  # one field: hex HMAC, then JSON
    assert Envelope.from_json(payload) == last and list(fields) == [b"e"]
    # The HMAC covers the stream key too: the entry verifies in its own stream only.
    assert signature == Signer(SIGNING_KEY).sign(payload, f"{prefix}:market.tick")
    assert signature != Signer(SIGNING_KEY).sign(payload)


def test_every_subscriber_gets_each_event_once_and_processes_share_a_subscriber(
    redis_settings: Settings,
) -> None:
    """Distinct subscribers each get every event; two buses with one subscriber split them."""

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        audit: list[int] = []
        shares: dict[str, list[int]] = {"a": [], "b": []}
        first = RedisBus(redis_settings(redis={"consumer": "proc-a"}))
        second = RedisBus(redis_settings(redis={"consumer": "proc-b"}))
        async with first, second:
            await first.subscribe("jobs.*", lambda e: audit.append(e.data), subscriber="audit")

            async def work(name: str, envelope: Envelope) -> None:
                shares[name].append(envelope.data)
                await asyncio.sleep(0.001)

            await first.subscribe("jobs.*", lambda e: work("a", e), subscriber="workers")
            await second.subscribe("jobs.*", lambda e: work("b", e), subscriber="workers")
            await asyncio.gather(*(first.publish("jobs.run", i) for i in range(200)))
            await until(lambda: len(audit) == 200 and len(shares["a"]) + len(shares["b"]) == 200)
            await asyncio.sleep(0.1)  # nothing more arrives
        return audit, shares["a"], shares["b"]

    audit, a, b = run(scenario())
    assert sorted(audit) == list(range(200))
    assert sorted(a + b) == list(range(200)) and a and b  # shared, each event once


def test_entry_is_acknowledged_only_after_the_handler_succeeds(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """While a handler runs its entry stays pending; it is XACKed once the handler returns."""

    async def scenario() -> tuple[int, int]:
        gate, entered = asyncio.Event(), asyncio.Event()

        async def handler(envelope: Envelope) -> None:
            entered.set()
            await gate.wait()

        async with RedisBus(redis_settings()) as bus:
            await bus.subscribe("jobs.run", handler, subscriber="w")
            await bus.publish("jobs.run", 1)
            await asyncio.wait_for(entered.wait(), 3)
            during = raw_redis.xpending(f"{prefix}:jobs.run", "w")["pending"]
            gate.set()
            await until(lambda: raw_redis.xpending(f"{prefix}:jobs.run", "w")["pending"] == 0)
        return during, raw_redis.xpending(f"{prefix}:jobs.run", "w")["pending"]

    assert run(scenario()) == (1, 0)


def test_failing_handler_is_retried_then_dead_lettered_and_replayed(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """A failing handler is retried, dead-lettered to the stream with the error, and replayable to it alone."""

    async def scenario() -> tuple[list[Any], list[Any], list[int], list[Any]]:
        attempts: list[int] = []
        other: list[Any] = []
        broken = True

        def handler(envelope: Envelope) -> None:
            attempts.append(envelope.attempts)
            if broken:
                raise RuntimeError("database down")

        settings = redis_settings(max_retries=2, retry_backoff=0.001)
        async with RedisBus(settings) as bus:
            await bus.subscribe("orders.created", handler, subscriber="store")
            await bus.subscribe("orders.created", lambda e: other.append(e.data), subscriber="mail")
            await bus.publish("orders.created", {"id": 9})
            await until(lambda: bus.statistics().dead_lettered == 1)
            letters = await bus.dead_letters()
            broken = False
            await bus.replay_dead_letter(letters[0].id)
            await until(lambda: len(attempts) == 4)
            await asyncio.sleep(0.2)
            remaining = await bus.dead_letters()
        return letters, remaining, attempts, other

    letters, remaining, attempts, other = run(scenario())
    (letter,) = letters
    assert letter.reason is DeadLetterReason.HANDLER_FAILED and letter.subscriber == "store"
    assert "3 attempt(s) failed; last: RuntimeError: database down" in letter.error
    assert letter.envelope is not None and letter.envelope.data == {"id": 9}
    assert attempts == [1, 2, 3, 1] and other == [{"id": 9}]  # "mail" did not get the replay
    assert remaining == []
    assert raw_redis.xpending(f"{prefix}:orders.created", "store")["pending"] == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"hello": b"world"}, DeadLetterReason.UNDECODABLE),
        ({b"e": b'{"id":"x","type":"jobs.run","time":1}'}, DeadLetterReason.UNSIGNED),
        ({b"e": b"00" * 32 + b'{"id":"x","type":"jobs.run","time":1}'}, DeadLetterReason.BAD_SIGNATURE),
        ("other key", DeadLetterReason.BAD_SIGNATURE),
        ("signed junk", DeadLetterReason.UNDECODABLE),
    ],
)
def test_foreign_forged_or_unsigned_entries_are_dead_lettered_never_handled(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str, fields: Any, reason: Any
) -> None:
    """An entry XADDed by someone else is dead-lettered with the reason; the next event still flows."""
    payload = b'{"id":"f1","type":"jobs.run","time":1,"data":"forged"}'
    if fields == "other key":
        fields = {b"e": Signer("another-key-0123456789").sign(payload) + payload}
    elif fields == "signed junk":
        fields = {b"e": Signer(SIGNING_KEY).sign(b"{not json", f"{prefix}:jobs.run") + b"{not json"}

    async def scenario() -> tuple[list[Any], list[Any]]:
        got: list[Any] = []
        async with RedisBus(redis_settings()) as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            raw_redis.xadd(f"{prefix}:jobs.run", fields)
            await bus.publish("jobs.run", "genuine")
            await until(lambda: got == ["genuine"] and bus.statistics().dead_lettered == 1)
            return got, await bus.dead_letters()

    got, (letter,) = run(scenario())
    assert got == ["genuine"]
    assert letter.reason is reason and letter.subscriber == "w" and letter.envelope is None
    assert not letter.replayable and letter.raw is not None
    assert raw_redis.xpending(f"{prefix}:jobs.run", "w")["pending"] == 0


def test_entries_of_a_dead_consumer_are_claimed_and_redelivered(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """Entries a consumer read and never acknowledged are claimed after claim_idle_ms and handled."""

    async def scenario() -> list[tuple[Any, int]]:
        got: list[tuple[Any, int]] = []
        async with RedisBus(redis_settings()) as bus:
            sub = await bus.subscribe("jobs.run", lambda e: None, subscriber="w")
            sub.cancel()  # keep the group, stop reading: a "ghost" consumer takes the entries
            await bus.publish("jobs.run", "orphan")
            raw_redis.xreadgroup("w", "ghost", {f"{prefix}:jobs.run": ">"}, count=10)
            await bus.subscribe("jobs.run", lambda e: got.append((e.data, e.attempts)), subscriber="w")
            await until(lambda: got == [("orphan", 2)], timeout=4)
        return got

    assert run(scenario()) == [("orphan", 2)]
    assert raw_redis.xpending(f"{prefix}:jobs.run", "w")["pending"] == 0


def test_entries_delivered_too_often_go_to_the_dead_letter_stream(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """An entry past max_deliveries is dead-lettered with the reason instead of handled again."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        got: list[Any] = []
        settings = redis_settings(redis={"max_deliveries": 2})
        async with RedisBus(settings) as bus:
            (await bus.subscribe("jobs.run", got.append, subscriber="w")).cancel()  # group only
            await bus.publish("jobs.run", "poison")
            stream = f"{prefix}:jobs.run"
            raw_redis.xreadgroup("w", "ghost1", {stream: ">"}, count=1)  # delivery 1
            entry_id = raw_redis.xpending_range(stream, "w", "-", "+", 1)[0]["message_id"]
            raw_redis.xclaim(stream, "w", "ghost2", 0, [entry_id])  # delivery 2
            await bus.subscribe("jobs.run", got.append, subscriber="w")
            await until(lambda: bus.statistics().dead_lettered == 1, timeout=4)
            return got, await bus.dead_letters()

    got, (letter,) = run(scenario())
    assert got == [] and letter.reason is DeadLetterReason.MAX_DELIVERIES
    assert "delivered 2 times without acknowledgement" in letter.error and letter.replayable
    assert raw_redis.xpending(f"{prefix}:jobs.run", "w")["pending"] == 0


def test_pattern_subscriptions_discover_new_topic_streams(redis_settings: Settings) -> None:
    """A pattern subscription finds streams created later, including system.** framework events."""

    async def scenario() -> list[str]:
        got: list[str] = []
        async with RedisBus(redis_settings()) as publisher, RedisBus(redis_settings()) as bus:
            await bus.subscribe("system.**", lambda e: got.append(e.type), subscriber="monitor")
            await publisher.publish("system.component.started", {"component": "feed"})
            await publisher.publish("config.reloaded", {})
            await publisher.publish("system.component.stopped", {"component": "feed"})
            await until(lambda: len(got) == 2, timeout=3)
        return got

    assert sorted(run(scenario())) == ["system.component.started", "system.component.stopped"]


def test_request_reply_between_two_processes(redis_settings: Settings) -> None:
    """A request answered by another bus instance comes back over the requester's reply stream."""

    async def scenario() -> Envelope:
        async with RedisBus(redis_settings()) as client, RedisBus(redis_settings()) as server:

            async def responder(request: Envelope) -> None:
                await server.reply(request, {"pong": request.data})

            await server.subscribe("svc.ping", responder, subscriber="pinger")
            return await client.request("svc.ping", 41, timeout=3)

    reply = run(scenario())
    assert reply.data == {"pong": 41} and reply.type == "svc.ping.reply"


def test_payloads_are_checked_before_anything_reaches_redis(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """Unserializable data and schema failures are refused at publish, naming type and field."""

    async def scenario() -> None:
        schemas = {"orders.created": {"qty": {"type": "integer", "min": 1, "required": True}}}
        async with RedisBus(redis_settings(), schemas=schemas) as bus:
            with pytest.raises(EventSerializationError, match="event 'orders.note'"):
                await bus.publish("orders.note", {"blob": object()})
            with pytest.raises(PayloadValidationError, match="field 'qty' must be >= 1 \\(got 0\\)"):
                await bus.publish("orders.created", {"qty": 0})

    run(scenario())
    assert raw_redis.exists(f"{prefix}:orders.note", f"{prefix}:orders.created") == 0


def test_one_subscriber_name_cannot_take_two_overlapping_patterns(redis_settings: Settings) -> None:
    """Two handlers under one subscriber name with overlapping patterns would split events: refused."""

    async def scenario() -> None:
        async with RedisBus(redis_settings()) as bus:
            await bus.subscribe("market.*", lambda e: None, subscriber="risk")
            await bus.subscribe("orders.created", lambda e: None, subscriber="risk")  # disjoint: fine
            with pytest.raises(DuplicateSubscriberError, match="subscriber 'risk' already subscribes"):
                await bus.subscribe("market.tick", lambda e: None, subscriber="risk")

    run(scenario())


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_redis_at_start_raises_a_clear_connection_error(redis_settings: Settings) -> None:
    """start() against a port nobody listens on raises BusConnectionError naming the URL, quickly."""
    port = _unused_port()
    bus = RedisBus(redis_settings(redis={"url": f"redis://:hunter2pass@127.0.0.1:{port}/0"}))
    started = time.perf_counter()
    with pytest.raises(BusConnectionError) as caught:
        run(bus.start())
    message = str(caught.value)
    assert message.startswith(f"Redis at 127.0.0.1:{port} unreachable: ")
    assert f"redis://127.0.0.1:{port}/0" in message and "hunter2pass" not in message
    assert isinstance(caught.value, ConnectionError) and time.perf_counter() - started < 3


def test_lost_connection_fails_publish_then_reconnects_and_resumes(
    redis_settings: Settings,
) -> None:
    """When Redis goes away publish raises BusConnectionError; when it returns delivery resumes."""

    async def scenario() -> tuple[list[Any], str]:
        got: list[Any] = []
        proxy = _Proxy()
        await proxy.start()
        settings = redis_settings(redis={"url": f"redis://127.0.0.1:{proxy.port}/0", "connect_timeout": 0.5})
        async with RedisBus(settings) as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            await bus.publish("jobs.run", "before")
            await until(lambda: got == ["before"])
            await proxy.stop()
            with pytest.raises(BusConnectionError) as caught:
                await bus.publish("jobs.run", "during")
            await proxy.start()
            await bus.publish("jobs.run", "after")
            await until(lambda: got == ["before", "after"], timeout=5)
        await proxy.stop()
        return got, str(caught.value)

    got, message = run(scenario())
    assert got == ["before", "after"] and message.startswith("Redis at 127.0.0.1:")
    assert "unreachable" in message


def test_subscription_recreates_its_group_when_redis_lost_the_stream(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """If the stream and its groups vanish (Redis restarted empty), the subscriber recreates them."""

    async def scenario() -> list[Any]:
        got: list[Any] = []
        async with RedisBus(redis_settings()) as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            await bus.publish("jobs.run", 1)
            await until(lambda: got == [1])
            raw_redis.delete(f"{prefix}:jobs.run", f"{prefix}:@topics")
            await asyncio.sleep(0.2)
            await bus.publish("jobs.run", 2)
            await until(lambda: got == [1, 2], timeout=3)
        return got

    assert run(scenario()) == [1, 2]
    assert raw_redis.sismember(f"{prefix}:@topics", "jobs.run")


def test_signing_key_never_appears_in_redis_or_reprs(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """The signing key is in no stream entry, dead letter, repr or error message."""

    async def scenario() -> list[str]:
        texts: list[str] = []
        bus = create_bus(redis_settings(max_retries=0))
        texts += [repr(bus), repr(bus.settings), repr(bus._signer)]  # type: ignore[attr-defined]
        async with bus:
            await bus.subscribe("a.b", lambda e: 1 / 0, subscriber="w")
            await bus.publish("a.b", {"x": 1})
            await until(lambda: bus.statistics().dead_lettered == 1)
            texts += [repr(letter) for letter in await bus.dead_letters()]
        return texts

    texts = run(scenario())
    for key in raw_redis.scan_iter(match=f"{prefix}:*"):
        kind = raw_redis.type(key)
        if kind == b"stream":
            texts += [repr(fields) for _, fields in raw_redis.xrange(key)]
        elif kind == b"set":
            texts.append(repr(raw_redis.smembers(key)))
    assert len(texts) > 5 and not [t for t in texts if SIGNING_KEY in t]


def test_publish_many_sends_a_burst_in_one_round_trip(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """publish_many writes every pair, across topics, and subscribers get them in order."""

    async def scenario() -> list[Any]:
        got: list[Any] = []
        async with RedisBus(redis_settings()) as bus:
            await bus.subscribe("burst.*", lambda e: got.append((e.type, e.data)), subscriber="w")
            pairs = [("burst.a" if i % 2 else "burst.b", i) for i in range(1500)]
            envelopes = await bus.publish_many(pairs)
            assert len(envelopes) == 1500 and bus.statistics().published == 1500
            await until(lambda: len(got) == 1500, timeout=5)
        return got

    got = run(scenario())
    assert sorted(i for _, i in got) == list(range(1500))
    assert [i for t, i in got if t == "burst.a"] == list(range(1, 1500, 2))  # per-topic order
    assert raw_redis.xlen(f"{prefix}:burst.a") == raw_redis.xlen(f"{prefix}:burst.b") == 750


def test_signer_matches_the_standard_hmac_for_any_key_length() -> None:
    """Signer's precomputed HMAC-SHA256 equals hmac.digest for short, block-size and long keys."""
    import hmac

    for key in ("k", "x" * 64, "y" * 65, "z" * 200, "clé-ünïcode-0123456789"):
        signer = Signer(key)
        for payload in (b"", b'{"a":1}', b"x" * 1000):
            expected = hmac.digest(key.encode(), payload, "sha256").hex().encode()
            assert signer.sign(payload) == expected
            assert signer.verify(payload, expected) and not signer.verify(payload, expected[::-1])


def test_unpack_splits_a_packed_read_reply_into_entries() -> None:
    """READ_LUA's packed string yields each entry's id and value; a foreign entry has no value."""
    packed = b"1-0 3 abc" + b"1-1 -1 " + b"2-0 5 a b c" + b"2-1 0 "
    assert list(unpack(packed)) == [("1-0", b"abc"), ("1-1", None), ("2-0", b"a b c"), ("2-1", b"")]
    assert list(unpack(b"")) == []


def test_a_backlog_read_in_batches_keeps_order_checks_and_acks(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """A backlog of many batches (read without blocking after the first) arrives in order; foreign,
    unsigned and forged entries among it are dead-lettered, and every entry is acknowledged."""
    stream = f"{prefix}:jobs.run"

    async def scenario() -> tuple[list[Any], list[Any]]:
        got: list[Any] = []
        async with RedisBus(redis_settings(queue_size=4)) as bus:  # a batch is 4 entries
            sub = await bus.subscribe("jobs.run", lambda e: None, subscriber="w")
            sub.cancel()  # the group now waits here
            for i in range(30):
                await bus.publish("jobs.run", i)
                if i == 9:
                    raw_redis.xadd(stream, {b"hello": b"world"})
                if i == 14:
                    raw_redis.xadd(stream, {b"e": b'{"id":"x","type":"jobs.run","time":1}'})
                if i == 19:
                    raw_redis.xadd(stream, {b"e": b"00" * 32 + b'{"id":"x","type":"jobs.run","time":1}'})
                if i == 24:  # a signed envelope with an extra field is still an event
                    signed = Signer(SIGNING_KEY).seal(Envelope("jobs.run", "extra"), stream)
                    raw_redis.xadd(stream, {b"e": signed, b"x": b"1"})
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            await until(lambda: len(got) == 31 and bus.statistics().dead_lettered == 3)
            await until(lambda: raw_redis.xpending(stream, "w")["pending"] == 0, what="all acked")
            return got, await bus.dead_letters()

    got, letters = run(scenario())
    assert got == [*range(25), "extra", *range(25, 30)]
    assert [letter.reason for letter in letters] == [
        DeadLetterReason.UNDECODABLE,
        DeadLetterReason.UNSIGNED,
        DeadLetterReason.BAD_SIGNATURE,
    ]
    assert letters[0].raw is not None and "hello" in letters[0].raw["fields"]
