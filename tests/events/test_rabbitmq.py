"""The RabbitMQ backend's own behaviour: names, the broker's matching, delivery counts, outages.

What every backend shares is in test_behaviour; this file holds what only RabbitMQ shows.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import aio_pika
import pytest

from framework.events.envelope import Envelope
from framework.events.errors import BusConnectionError, MissingSigningKeyError
from framework.events.factory import create_bus
from framework.events.rabbitmq.bus import RabbitBus
from framework.events.rabbitmq.connection import Names, binding_key
from framework.events.records import DeadLetterReason
from framework.events.settings import Backend, BusSettings
from framework.events.signing import Signer
from framework.events.topics import matches
from tests.events.conftest import SIGNING_KEY, Proxy, RabbitNames, run, until
from tests.events.test_topics import MATCHING_CASES

pytestmark = [pytest.mark.rabbitmq, pytest.mark.timeout(60)]


@pytest.mark.parametrize(("pattern", "key"), [("a.*", "a.*"), ("a.**", "a.#"), ("**.b.*", "#.b.*"), ("x", "x")])
def test_patterns_become_amqp_binding_keys(pattern: str, key: str) -> None:
    """'*' stays '*' and '**' becomes '#': both match zero or more segments."""
    assert binding_key(pattern) == key


def test_queue_names_are_valid_amqp_names_and_distinct_per_subscription() -> None:
    """Every subscription gets its own queue name, within what AMQP clients accept, however odd its subscriber."""
    names = Names("market", "node")
    subscriptions = [
        ("analyzer", "market.*"), ("analyzer", "market.**"), ("analyzer", "market.x"),
        ("tests.<locals>.<lambda>", "a"), ("tests.__locals__.__lambda__", "a"), ("x" * 300, "a"),
    ]
    queues = [names.queue(subscriber, pattern) for subscriber, pattern in subscriptions]
    assert queues[0] == "market.analyzer.market.+" and queues[1] == "market.analyzer.market.#"
    assert len(set(queues)) == len(queues)
    assert all(len(q.encode()) <= 255 and all(c.isalnum() or c in "_.:@#,/+ -" for c in q) for q in queues)


def test_the_broker_routes_exactly_as_topics_matches(rabbitmq_url: str, exchange: RabbitNames) -> None:
    """Bound with binding_key(pattern), RabbitMQ's topic exchange routes each case as topics.matches says."""
    patterns = sorted({pattern for pattern, _, _ in MATCHING_CASES})
    topics = sorted({topic for _, topic, _ in MATCHING_CASES})

    async def scenario() -> dict[str, int]:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            target = await channel.declare_exchange(exchange.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            queues = {}
            for index, pattern in enumerate(patterns):
                name = f"{exchange.exchange}.raw{index}"
                exchange.queues.add(name)
                queues[pattern] = await channel.declare_queue(name)
                await queues[pattern].bind(target, binding_key(pattern))
            for topic in topics:
                await target.publish(aio_pika.Message(topic.encode()), topic)
            counts = {}
            for pattern, queue in queues.items():
                declared = await channel.declare_queue(queue.name, passive=True)
                counts[pattern] = declared.declaration_result.message_count or 0
            return counts

    counts = run(scenario())
    assert counts == {p: sum(matches(p, t) for t in topics) for p in patterns}


def test_unreachable_broker_at_start_raises_a_clear_connection_error(exchange: RabbitNames) -> None:
    """start() against a port nobody listens on raises BusConnectionError naming the host, never the password."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bus = RabbitBus(exchange.settings(url=f"amqp://guest:hunter2pass@127.0.0.1:{port}/", rabbitmq={"connect_timeout": 0.5}))
    started = time.perf_counter()
    with pytest.raises(BusConnectionError) as caught:
        run(bus.start())
    message = str(caught.value)
    assert message.startswith(f"RabbitMQ at 127.0.0.1:{port} unreachable: ")
    assert f"amqp://127.0.0.1:{port}/" in message and "hunter2pass" not in message
    assert time.perf_counter() - started < 3


def test_lost_connection_fails_publish_then_reconnects_and_resumes(exchange: RabbitNames) -> None:
    """While the broker is out of reach publish raises BusConnectionError; once back, the bus
    reconnects by itself (a short wait: the outage was short) and delivery resumes."""

    async def scenario() -> tuple[list[Any], str, float]:
        got: list[Any] = []
        proxy = Proxy(upstream=5672)
        await proxy.start()
        settings = exchange.settings(url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
        async with exchange.track(RabbitBus(settings)) as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            await bus.publish("jobs.run", "before")
            await until(lambda: got == ["before"])
            await proxy.stop()
            await until(lambda: not bus._link.connected, 5, "the bus to notice the outage")
            with pytest.raises(BusConnectionError) as caught:
                await bus.publish("jobs.run", "during")
            assert (await bus.health())["status"] == "unhealthy"
            await proxy.start()
            back = time.perf_counter()
            await until(lambda: bus._link.connected, 10, "the bus to reconnect")
            reconnected = time.perf_counter() - back
            await bus.publish("jobs.run", "after")
            await until(lambda: got == ["before", "after"], timeout=10)
        await proxy.stop()
        return got, str(caught.value), reconnected

    got, message, reconnected = run(scenario(), timeout=40)
    assert got == ["before", "after"]
    assert message.startswith("RabbitMQ at 127.0.0.1:") and "unreachable" in message
    assert reconnected < 5  # bounded by reconnect_max, not aio-pika's fixed 5 s


def test_a_message_redelivered_past_max_deliveries_is_dead_lettered_unhandled(exchange: RabbitNames) -> None:
    """The quorum queue counts deliveries its consumers never acknowledged (a consumer cut off
    mid-handler): past max_deliveries the next process dead-letters the message instead of handling it."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        handled: list[Any] = []
        proxy = Proxy(upstream=5672)
        await proxy.start()
        stuck = asyncio.Event()
        cut = exchange.settings(url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/", shutdown_timeout=0.1, rabbitmq={"max_deliveries": 1})

        async def hang(envelope: Envelope) -> None:
            stuck.set()
            await asyncio.Event().wait()  # never returns: the consumer dies mid-handler

        first = exchange.track(RabbitBus(cut))
        await first.start()
        await first.subscribe("jobs.run", hang, subscriber="w")
        await first.publish("jobs.run", "poison")
        await asyncio.wait_for(stuck.wait(), 5)
        await proxy.stop()  # the connection drops: the broker returns the message to the queue
        async with exchange.track(RabbitBus(exchange.settings(rabbitmq={"max_deliveries": 1}))) as second:
            await second.subscribe("jobs.run", lambda e: handled.append(e.data), subscriber="w")
            await until(lambda: second.statistics().dead_lettered == 1, 5, "the dead letter")
            letters = await second.dead_letters()
        await first.stop(timeout=0.1)
        return handled, letters

    handled, letters = run(scenario(), timeout=40)
    assert handled == []
    [letter] = letters
    assert letter.reason is DeadLetterReason.MAX_DELIVERIES and "max_deliveries=1" in letter.error
    assert letter.envelope is not None and letter.envelope.data == "poison" and letter.replayable


def test_an_event_signed_before_the_replay_window_is_dead_lettered_expired(exchange: RabbitNames, rabbitmq_url: str) -> None:
    """A genuine event signed longer ago than replay_window is dead-lettered 'expired', replayable by id only."""

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        got: list[Any] = []
        old = Envelope("jobs.run", "old", time=time.time() - 120)
        async with exchange.track(RabbitBus(exchange.settings(rabbitmq={"replay_window": 60}))) as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="w")
            connection = await aio_pika.connect(rabbitmq_url)
            async with connection:
                channel = await connection.channel()
                target = await channel.get_exchange(exchange.exchange)
                await target.publish(aio_pika.Message(Signer(SIGNING_KEY).seal(old, f"{exchange.exchange}/jobs.run")), "jobs.run")
            await until(lambda: bus.statistics().dead_lettered == 1, 5, "the dead letter")
            [letter] = await bus.dead_letters()
            assert not letter.replayable and await bus.replay_dead_letters() == 0
            await bus.replay_dead_letter(letter.id)  # signed anew: fresh
            await until(lambda: got == ["old"], 5, "the replayed event")
            return got, [letter], await bus.dead_letters()

    got, [letter], left = run(scenario())
    assert letter.reason is DeadLetterReason.EXPIRED and "event_bus.rabbitmq.replay_window" in letter.error
    assert got == ["old"] and left == []


def test_secrets_never_show_in_reprs_errors_or_settings(exchange: RabbitNames) -> None:
    """The signing key and the URL's password never appear in the bus's repr, its settings' repr or a validation error."""
    settings = exchange.settings(url="amqp://guest:s3cret-pass@127.0.0.1:5672/")
    bus = RabbitBus(settings)
    shown = repr(bus) + repr(settings)
    assert SIGNING_KEY not in shown and "s3cret-pass" not in shown and "127.0.0.1:5672" in repr(bus)
    with pytest.raises(Exception) as caught:
        BusSettings.from_config({"backend": "rabbitmq", "rabbitmq": {"url": 5, "signing_key": "short-s3cret"}})
    assert "short-s3cret" not in str(caught.value) and "event_bus.rabbitmq.signing_key" in str(caught.value)


def test_the_factory_requires_a_signing_key() -> None:
    """create_bus refuses backend rabbitmq without a signing key, saying what to set."""
    with pytest.raises(MissingSigningKeyError, match="event_bus.rabbitmq.signing_key is required"):
        create_bus({"backend": "rabbitmq"})
    assert isinstance(create_bus(BusSettings(backend=Backend.RABBITMQ).with_changes(rabbitmq={"signing_key": SIGNING_KEY})), RabbitBus)


def test_an_ack_never_covers_a_message_still_being_handled(exchange: RabbitNames) -> None:
    """Acks go together ('multiple') only up to the oldest message in progress: an event handled
    out of delivery order (a higher priority) is acked alone, and the one still in its handler
    when the connection dies comes back to another consumer; the acked one does not."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        first_got: list[Any] = []
        second_got: list[Any] = []
        proxy = Proxy(upstream=5672)
        await proxy.start()
        cut = exchange.settings(url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/", shutdown_timeout=0.1)
        async with exchange.track(RabbitBus(exchange.settings())) as publisher:
            (await publisher.subscribe("jobs.run", lambda e: None, subscriber="w")).cancel()  # the queue
            await publisher.publish("jobs.run", "slow", priority=1)
            await publisher.publish("jobs.run", "urgent", priority=9)
        stuck = asyncio.Event()

        async def handle(envelope: Envelope) -> None:
            first_got.append(envelope.data)
            if envelope.data == "slow":
                stuck.set()
                await asyncio.Event().wait()  # still in progress when the connection dies

        first = exchange.track(RabbitBus(cut))
        await first.start()
        await first.subscribe("jobs.run", handle, subscriber="w")
        await asyncio.wait_for(stuck.wait(), 5)
        await asyncio.sleep(0.2)  # the urgent one's ack is sent by now
        await proxy.stop()
        async with exchange.track(RabbitBus(exchange.settings())) as second:
            await second.subscribe("jobs.run", lambda e: second_got.append(e.data), subscriber="w")
            await until(lambda: second_got == ["slow"], 5, "the slow event, redelivered")
            await asyncio.sleep(0.3)  # the urgent one would come again by now, were it not acked
        await first.stop(timeout=0.1)
        return first_got, second_got

    first_got, second_got = run(scenario(), timeout=40)
    assert first_got == ["urgent", "slow"]  # both were in the mailbox: priority first
    assert second_got == ["slow"]
