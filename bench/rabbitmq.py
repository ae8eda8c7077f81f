"""The RabbitMQ backend's publish and consume rates beside raw aio-pika, in one run.

    python bench/rabbitmq.py [EVENTS]

``bench/bus.py`` runs the same (``rabbitmq_figures``) beside its other figures.

Same server, same data, publisher confirms and persistent messages on both sides:
- publish, bursts: ours = ``publish_many`` bursts of 500 (each a signed envelope, the burst's
  confirms awaited together) vs raw aio-pika: 500 ``exchange.publish`` of the JSON data,
  gathered. Publish, one by one: ``await bus.publish`` vs ``await exchange.publish``, each
  waiting for its confirm (what an app does with one event at a time).
- consume: EVENTS messages wait in the queue; the time runs from ``subscribe`` (ours: verify
  the HMAC, decode, replay checks, handle, ack) or ``queue.consume`` (raw: json.loads, ack)
  until the handler has seen them all; the same prefetch (100) on both.
Each side has an exchange and a queue of its own. Each case runs ``ROUNDS`` times, alternating
ours and raw; the best run counts (other load on the machine skews less). Every exchange and queue the run made is deleted. The last line is
JSON: events/s of each and our/raw ratios (the goal of issue 19: at least 0.8).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from typing import Any

import aio_pika
from loguru import logger

from framework.events.rabbitmq.bus import RabbitBus
from framework.events.settings import Backend, BusSettings

URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
TOPIC, DATA = "market.tick", {"symbol": "BTC-USD", "price": 64123.5, "size": 0.25}
BURST, ONE_BY_ONE, ROUNDS, PREFETCH = 500, 1000, 5, 100
KEY = "bench-signing-key-0123456789"


def _settings(exchange: str) -> BusSettings:
    return BusSettings(backend=Backend.RABBITMQ, max_retries=0, queue_size=1000).with_changes(
        rabbitmq={"url": URL, "exchange": exchange, "signing_key": KEY, "prefetch": PREFETCH}
    )


async def _ours(exchange: str, events: int) -> dict[str, float]:
    """Our publish (bursts, one by one) and consume rates; returns events/s of each."""
    bus = RabbitBus(_settings(exchange))
    async with bus:  # declare the queue, so what is published next waits in it
        (await bus.subscribe(TOPIC, lambda e: None, subscriber="bench")).cancel()
    seen = 0
    async with RabbitBus(_settings(exchange)) as bus:
        started = time.perf_counter()
        for _ in range(events // BURST):
            await bus.publish_many([(TOPIC, DATA)] * BURST)
        bursts = events / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(ONE_BY_ONE):
            await bus.publish(TOPIC, DATA)
        single = ONE_BY_ONE / (time.perf_counter() - started)
        total, done = events + ONE_BY_ONE, asyncio.Event()

        def handle(envelope: Any) -> None:
            nonlocal seen
            seen += 1
            if seen == total:
                done.set()

        started = time.perf_counter()
        await bus.subscribe(TOPIC, handle, subscriber="bench")
        await asyncio.wait_for(done.wait(), 120)
        consume = total / (time.perf_counter() - started)
    return {"publish": bursts, "publish_one_by_one": single, "consume": consume}


async def _raw(exchange: str, events: int) -> dict[str, float]:
    """The same with aio-pika by hand: a topic exchange, a durable quorum queue, JSON bodies."""
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        # An exchange of its own: bound to ours, its messages would also land in our queue.
        target = await channel.declare_exchange(f"{exchange}-raw", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(f"{exchange}.raw", durable=True, arguments={"x-queue-type": "quorum"})
        await queue.bind(target, TOPIC)

        def message() -> aio_pika.Message:
            return aio_pika.Message(json.dumps(DATA).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT)

        started = time.perf_counter()
        for _ in range(events // BURST):
            await asyncio.gather(*(target.publish(message(), TOPIC, mandatory=False) for _ in range(BURST)))
        bursts = events / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(ONE_BY_ONE):
            await target.publish(message(), TOPIC, mandatory=False)
        single = ONE_BY_ONE / (time.perf_counter() - started)
        consume = await _raw_consume(connection, queue.name, events + ONE_BY_ONE)
        await channel.queue_delete(queue.name)
    return {"publish": bursts, "publish_one_by_one": single, "consume": consume}


async def _raw_consume(connection: Any, name: str, total: int) -> float:
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.get_queue(name)
    seen, done = 0, asyncio.Event()

    async def handle(message: Any) -> None:
        nonlocal seen
        json.loads(message.body)
        await message.ack()
        seen += 1
        if seen == total:
            done.set()

    started = time.perf_counter()
    tag = await queue.consume(handle)
    await asyncio.wait_for(done.wait(), 120)
    rate = total / (time.perf_counter() - started)
    await queue.cancel(tag)
    await channel.close()
    return rate


async def _delete(exchange: str) -> None:
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        for queue in (f"{exchange}.bench.{TOPIC}", f"{exchange}.@dead", f"{exchange}.raw"):
            await channel.queue_delete(queue)
        for name in (exchange, f"{exchange}.@dead", f"{exchange}-raw"):
            await channel.exchange_delete(name)


async def rabbitmq_figures(events: int = 5000) -> dict[str, Any]:
    """Best-of-ROUNDS rates, ours and raw aio-pika's, and the ratios."""
    exchange = f"bench-{uuid.uuid4().hex[:8]}"
    ours: list[dict[str, float]] = []
    raw: list[dict[str, float]] = []
    try:
        for _ in range(ROUNDS):
            ours.append(await _ours(exchange, events))
            raw.append(await _raw(exchange, events))
    finally:
        await _delete(exchange)
    result: dict[str, Any] = {"events": events}
    for case in ("publish", "publish_one_by_one", "consume"):
        mine, theirs = max(r[case] for r in ours), max(r[case] for r in raw)
        result[case] = {"ours_per_s": round(mine), "raw_per_s": round(theirs), "vs_raw": round(mine / theirs, 2)}
    return result


def rabbitmq_table(figures: dict[str, Any]) -> list[str]:
    """The lines of a table of ``rabbitmq_figures``."""
    names = {
        "publish": "publish (bursts of 500)",
        "publish_one_by_one": "publish (one at a time)",
        "consume": "consume",
    }
    return [
        f"{label:<24} ours {figures[case]['ours_per_s']:>8,}  raw aio-pika {figures[case]['raw_per_s']:>8,}"
        f"   x{figures[case]['vs_raw']}"
        for case, label in names.items()
    ]


async def main(events: int) -> None:
    figures = await rabbitmq_figures(events)
    print("RabbitMQ (events/s, publisher confirms on both sides)")
    print("\n".join(f"  {line}" for line in rabbitmq_table(figures)))
    print(json.dumps(figures))


if __name__ == "__main__":
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
