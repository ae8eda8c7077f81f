"""Event bus throughput and latency against blinker, pyee, raw redis-py and raw aio-pika, in one run.

    python bench/bus.py             # everything (needs Redis and RabbitMQ for their parts)
    python bench/bus.py --memory    # the in-memory part alone: publish and async delivery

Prints a table, then (last line) one JSON object with the ratios and absolute figures, and
issue 18's "before" figures for async delivery beside the ones measured now.

What is measured, and how:
- in-memory publish: ``await bus.publish(topic, data)`` returns once the event is queued for
  every matching subscriber (delivery runs in each subscriber's task, measured below), against
  blinker ``Signal.send`` and pyee ``EventEmitter.emit``, which call their no-op receivers
  inline. Batches of 1,000 publishes are timed; queues are drained (untimed) between batches;
  the best batch of many counts, so other load on the machine skews less.
- the 1,000-wildcards case adds 1,000 subscriptions like ``other123.*.x`` that never match.
- async delivery: time until N events reach an async handler, against pyee's
  ``AsyncIOEventEmitter`` (which schedules one task per event).
- Redis, same server, same data: publish = ``publish_many`` bursts of 500 (each a signed
  envelope; the bus sends a burst as one EVALSHA of XADDs) vs raw redis-py pipelines of 500
  XADDs of the JSON data; also reported: 500 concurrent ``publish`` calls (asyncio.gather; they
  share round trips but each costs a task). Consume = a subscriber draining N entries (verify
  the HMAC, decode, handle, XACK) vs raw XREADGROUP COUNT 100 + json.loads + XACK per batch.
  Latency = publish to handler, one event at a time, after a warm-up, beside the same hop done
  with redis-py by hand (XADD; a task blocked in XREADGROUP decodes and XACKs), in turns.
- declared payloads: publish through a component's scoped bus without a declaration, beside
  the scoped bus as it was before declarations, and with a dataclass or Cerberus declaration
  (bench/payloads.py).
- Redis keyed partitions: publish and consume rates at P=1, 8 and 32 beside the unpartitioned
  topic (bench/partitions.py), and rebalance times, join and crash (bench/rebalance.py).
- RabbitMQ: publish (bursts of 500, and one at a time) and consume rates beside raw aio-pika,
  publisher confirms and persistent messages on both sides (bench/rabbitmq.py).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from blinker import Signal
from loguru import logger
from pyee import EventEmitter
from pyee.asyncio import AsyncIOEventEmitter

from framework.events.envelope import Envelope
from framework.events.memory import MemoryBus
from framework.events.redis.bus import RedisBus
from framework.events.settings import Backend, BusSettings

sys.path.insert(0, str(Path(__file__).parent))  # the partition benchmarks beside this one
from partitions import partitioned_figures, partitioned_table  # noqa: E402
from payloads import payload_figures  # noqa: E402
from payloads import summary as payload_summary  # noqa: E402
from payloads import table as payload_table  # noqa: E402
from rabbitmq import rabbitmq_figures, rabbitmq_table  # noqa: E402
from rebalance import rebalance_figures, rebalance_table  # noqa: E402

BATCH, ROUNDS = 1000, 150
DELIVERY_EVENTS = 20_000
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_EVENTS, REDIS_BURST = 10_000, 500
LATENCY_SAMPLES = 1000
TOPIC, DATA = "market.tick", {"symbol": "BTC-USD", "price": 64123.5, "size": 0.25}
# Recorded constants, not measured by this run: async delivery (publish until every handler
# ran) as issue 18 states it, measured on this 2-core machine before that issue's changes.
BEFORE_ISSUE_18 = {"async_delivery_per_s": {"ours_1": 560_000, "ours_10": 84_000}}


def noop(*args: Any, **kwargs: Any) -> None:
    """A receiver that does nothing, for every contender."""


# in-memory publish


async def _drain(bus: MemoryBus) -> None:
    while any(info.queue_depth for info in bus.subscriptions()):
        await asyncio.sleep(0)


async def _ours(
    subscribers: int, wildcards: int
) -> tuple[MemoryBus, Callable[[], Awaitable[float]]]:
    bus = MemoryBus(BusSettings(queue_size=BATCH * 2, history_size=1000))
    await bus.start()
    for i in range(wildcards):
        await bus.subscribe(f"other{i}.*.x", noop, subscriber=f"wild{i}")
    for i in range(subscribers):
        await bus.subscribe(TOPIC, noop, subscriber=f"s{i}")

    async def batch() -> float:
        publish = bus.publish
        started = time.perf_counter()
        for _ in range(BATCH):
            await publish(TOPIC, DATA)
        elapsed = time.perf_counter() - started
        await _drain(bus)
        return elapsed

    return bus, batch


def _blinker(subscribers: int) -> Callable[[], float]:
    signal = Signal()
    receivers = [lambda sender, **kw: None for _ in range(subscribers)]
    for receiver in receivers:
        signal.connect(receiver)

    def batch() -> float:
        send = signal.send
        started = time.perf_counter()
        for _ in range(BATCH):
            send(TOPIC, data=DATA)
        return time.perf_counter() - started

    batch.receivers = receivers  # type: ignore[attr-defined]  # blinker holds weak references
    return batch


def _pyee(subscribers: int, others: int) -> Callable[[], float]:
    emitter = EventEmitter()
    for i in range(others):
        emitter.on(f"other{i}", lambda *a: None)
    for _ in range(subscribers):
        emitter.on(TOPIC, lambda *a: None)  # distinct functions: pyee keys listeners by function

    def batch() -> float:
        emit = emitter.emit
        started = time.perf_counter()
        for _ in range(BATCH):
            emit(TOPIC, DATA)
        return time.perf_counter() - started

    return batch


async def memory_publish() -> dict[str, float]:
    """Best-batch publish rates, contenders interleaved round by round."""
    ours = {k: await _ours(*k) for k in [(1, 0), (10, 0), (10, 1000)]}
    blinker = {n: _blinker(n) for n in (1, 10)}
    pyee = {n: _pyee(n, 0) for n in (1, 10)}
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds)

    for _ in range(ROUNDS):
        for (subs, wild), (_, batch) in ours.items():
            keep(f"ours_{subs}" + ("_wild" if wild else ""), await batch())
        for subs in (1, 10):
            keep(f"blinker_{subs}", blinker[subs]())
            keep(f"pyee_{subs}", pyee[subs]())
    for bus, _ in ours.values():
        await bus.stop()
    return {name: BATCH / seconds for name, seconds in best.items()}


# async delivery


async def _deliver_ours(subscribers: int) -> float:
    done = asyncio.Event()
    remaining = DELIVERY_EVENTS * subscribers

    async def handler(envelope: Envelope) -> None:
        nonlocal remaining
        remaining -= 1
        if not remaining:
            done.set()

    async with MemoryBus(BusSettings(queue_size=DELIVERY_EVENTS)) as bus:
        for i in range(subscribers):
            await bus.subscribe(TOPIC, handler, subscriber=f"s{i}")
        started = time.perf_counter()
        for _ in range(DELIVERY_EVENTS):
            await bus.publish(TOPIC, DATA)
        await done.wait()
        return DELIVERY_EVENTS / (time.perf_counter() - started)


async def _deliver_pyee(subscribers: int) -> float:
    done = asyncio.Event()
    remaining = DELIVERY_EVENTS * subscribers
    emitter = AsyncIOEventEmitter()

    def make_handler() -> Callable[[Any], Awaitable[None]]:
        async def handler(data: Any) -> None:  # pyee keys listeners by function: one each
            nonlocal remaining
            remaining -= 1
            if not remaining:
                done.set()

        return handler

    for _ in range(subscribers):
        emitter.on(TOPIC, make_handler())
    started = time.perf_counter()
    for _ in range(DELIVERY_EVENTS):
        emitter.emit(TOPIC, DATA)
    await done.wait()
    return DELIVERY_EVENTS / (time.perf_counter() - started)


async def async_delivery() -> dict[str, float]:
    """Events per second reaching async handlers (best of 3, interleaved)."""
    rates: dict[str, list[float]] = {}
    for _ in range(3):
        for subs in (1, 10):
            rates.setdefault(f"ours_{subs}", []).append(await _deliver_ours(subs))
            rates.setdefault(f"pyee_{subs}", []).append(await _deliver_pyee(subs))
            gc.collect()
    return {name: max(values) for name, values in rates.items()}


# Redis


def _redis_settings(prefix: str) -> BusSettings:
    return BusSettings(backend=Backend.REDIS, queue_size=1000, max_retries=0).with_changes(
        redis={
            "url": REDIS_URL,
            "stream_prefix": prefix,
            "signing_key": "bench-signing-key-0123456789",
            "block_ms": 100,
            "maxlen": REDIS_EVENTS * 2,
        }
    )


async def _raw_publish(client: aioredis.Redis, stream: str) -> float:
    payload = json.dumps(DATA).encode()
    started = time.perf_counter()
    for _ in range(REDIS_EVENTS // REDIS_BURST):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(REDIS_BURST):
                pipe.xadd(stream, {b"d": payload}, maxlen=REDIS_EVENTS * 2, approximate=True)
            await pipe.execute()
    return REDIS_EVENTS / (time.perf_counter() - started)


async def _raw_consume(client: aioredis.Redis, stream: str) -> float:
    await client.xgroup_create(stream, "raw", id="0")
    seen = 0
    started = time.perf_counter()
    while seen < REDIS_EVENTS:
        response: Any = await client.xreadgroup("raw", "c", {stream: ">"}, count=100, block=100)
        for _, entries in response:
            ids = []
            for entry_id, fields in entries:
                json.loads(fields[b"d"])
                ids.append(entry_id)
            seen += len(ids)
            await client.xack(stream, "raw", *ids)
    return REDIS_EVENTS / (time.perf_counter() - started)


async def _our_publish(bus: RedisBus) -> float:
    started = time.perf_counter()
    for _ in range(REDIS_EVENTS // REDIS_BURST):
        await bus.publish_many([(TOPIC, DATA)] * REDIS_BURST)
    return REDIS_EVENTS / (time.perf_counter() - started)


async def _our_concurrent_publish(bus: RedisBus) -> float:
    started = time.perf_counter()
    for _ in range(REDIS_EVENTS // REDIS_BURST):
        await asyncio.gather(*(bus.publish(TOPIC, DATA) for _ in range(REDIS_BURST)))
    return REDIS_EVENTS / (time.perf_counter() - started)


async def _our_consume(bus: RedisBus) -> float:
    done = asyncio.Event()
    seen = 0

    def handler(envelope: Envelope) -> None:
        nonlocal seen
        seen += 1
        if seen == REDIS_EVENTS:
            done.set()

    started = time.perf_counter()
    await bus.subscribe(TOPIC, handler, subscriber="consumer")  # the group already holds N
    await done.wait()
    while bus._acks.pending:  # count the acknowledgements too
        await asyncio.sleep(0)
    return REDIS_EVENTS / (time.perf_counter() - started)


class _Hop:
    """Times one event at a time from send to arrival, in ms, after a warm-up."""

    def __init__(self) -> None:
        self._arrival: asyncio.Future[float] | None = None

    def arrived(self) -> None:
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(time.perf_counter())

    async def latencies(self, send: Callable[[int], Awaitable[object]]) -> list[float]:
        loop, samples = asyncio.get_running_loop(), []
        for i in range(LATENCY_SAMPLES + 50):
            self._arrival = loop.create_future()
            started = time.perf_counter()
            await send(i)
            received = await asyncio.wait_for(self._arrival, 5)
            if i >= 50:  # warm-up
                samples.append((received - started) * 1000)
        return samples


async def _latency(bus: RedisBus) -> list[float]:
    hop = _Hop()
    await bus.subscribe("bench.latency", lambda envelope: hop.arrived(), subscriber="latency")
    return await hop.latencies(lambda i: bus.publish("bench.latency", i))


async def _raw_latency(client: aioredis.Redis, stream: str) -> list[float]:
    """The same hop done with redis-py by hand: XADD, a blocked XREADGROUP, json.loads, XACK."""
    await client.xgroup_create(stream, "raw", id="$", mkstream=True)
    hop, done = _Hop(), False

    async def consume() -> None:  # ends by itself: cancelling a blocked redis-py read can hang
        while not done:
            response: Any = await client.xreadgroup("raw", "c", {stream: ">"}, count=100, block=100)
            for _, entries in response or []:
                for entry_id, fields in entries:
                    json.loads(fields[b"e"])
                    hop.arrived()
                    await client.xack(stream, "raw", entry_id)

    consumer = asyncio.create_task(consume())
    try:
        return await hop.latencies(
            lambda i: client.xadd(stream, {"e": json.dumps(i)}, maxlen=REDIS_EVENTS, approximate=True)
        )
    finally:
        done = True
        await asyncio.gather(consumer, return_exceptions=True)


async def _raw_round_trips(client: aioredis.Redis, stream: str) -> list[float]:
    """One raw redis-py XADD at a time, in ms: the floor under one hop of our latency."""
    samples = []
    value = json.dumps(DATA).encode()
    for i in range(LATENCY_SAMPLES + 50):
        started = time.perf_counter()
        await client.xadd(stream, {"e": value}, maxlen=REDIS_EVENTS, approximate=True)
        if i >= 50:
            samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)


async def redis_figures() -> dict[str, float]:
    """Our Redis backend vs raw redis-py on the same server, same data."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(REDIS_URL)
    results: dict[str, list[float]] = {}
    try:
        for round_ in range(3):
            raw_stream = f"{prefix}:raw{round_}"
            results.setdefault("raw_publish", []).append(await _raw_publish(client, raw_stream))
            results.setdefault("raw_consume", []).append(await _raw_consume(client, raw_stream))
            async with RedisBus(_redis_settings(f"{prefix}-{round_}")) as bus:
                subscription = await bus.subscribe(TOPIC, noop, subscriber="consumer")
                subscription.cancel()  # the group now waits at this point of the stream
                results.setdefault("publish", []).append(await _our_publish(bus))
                results.setdefault("consume", []).append(await _our_consume(bus))
            async with RedisBus(_redis_settings(f"{prefix}-concurrent{round_}")) as bus:
                results.setdefault("publish_concurrent", []).append(
                    await _our_concurrent_publish(bus)
                )
            gc.collect()
        samples, raw_hop = [], []
        for round_ in range(2):  # alternated, so a noisy spell on the machine hits both alike
            async with RedisBus(_redis_settings(f"{prefix}-latency{round_}")) as bus:
                samples += await _latency(bus)
            raw_hop += await _raw_latency(client, f"{prefix}:raw-latency{round_}")
        samples.sort()
        raw_hop.sort()
        raw = await _raw_round_trips(client, f"{prefix}:round-trip")
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    figures = {name: max(values) for name, values in results.items()}
    figures["p50_ms"] = statistics.median(samples)
    figures["p99_ms"] = samples[int(len(samples) * 0.99) - 1]
    figures["raw_hop_p50_ms"] = statistics.median(raw_hop)
    figures["raw_hop_p99_ms"] = raw_hop[int(len(raw_hop) * 0.99) - 1]
    figures["raw_p50_ms"] = statistics.median(raw)
    figures["raw_p99_ms"] = raw[int(len(raw) * 0.99) - 1]
    return figures


def partitioned() -> dict[str, Any]:
    """Keyed partitions on the same Redis: rates per P beside the plain topic, rebalance times."""
    return {
        "partitioned": asyncio.run(partitioned_figures()),
        "rebalance": asyncio.run(rebalance_figures(show=lambda line: None)),
    }


# report


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2)


def _in_memory(memory: dict[str, float], delivery: dict[str, float]) -> dict[str, Any]:
    before = BEFORE_ISSUE_18["async_delivery_per_s"]
    return {
        "memory_publish_per_s": {k: round(v) for k, v in sorted(memory.items())},
        "memory_vs_pyee_1": _ratio(memory["ours_1"], memory["pyee_1"]),
        "memory_vs_pyee_10": _ratio(memory["ours_10"], memory["pyee_10"]),
        "memory_vs_blinker_1": _ratio(memory["ours_1"], memory["blinker_1"]),
        "memory_vs_blinker_10": _ratio(memory["ours_10"], memory["blinker_10"]),
        "wildcard_slowdown": _ratio(memory["ours_10"], memory["ours_10_wild"]),
        "async_delivery_per_s": {k: round(v) for k, v in sorted(delivery.items())},
        "async_delivery_vs_pyee_1": _ratio(delivery["ours_1"], delivery["pyee_1"]),
        "async_delivery_vs_pyee_10": _ratio(delivery["ours_10"], delivery["pyee_10"]),
        "before_issue_18": BEFORE_ISSUE_18,
        "async_delivery_vs_before_issue_18_1": _ratio(delivery["ours_1"], before["ours_1"]),
        "async_delivery_vs_before_issue_18_10": _ratio(delivery["ours_10"], before["ours_10"]),
    }


def main(memory_only: bool = False) -> None:
    started = time.perf_counter()
    memory = asyncio.run(memory_publish())
    gc.collect()
    delivery = asyncio.run(async_delivery())
    gc.collect()
    if memory_only:
        alone = {**_in_memory(memory, delivery), "seconds": round(time.perf_counter() - started, 1)}
        _print_memory_table(alone)
        print(json.dumps(alone))
        return
    declared = payload_summary(asyncio.run(payload_figures()))
    gc.collect()
    try:
        redis = asyncio.run(redis_figures())
        keyed = partitioned()
    except (OSError, ConnectionError) as exc:
        print(f"Redis figures skipped: {exc}", file=sys.stderr)
        redis, keyed = {}, {}
    result: dict[str, Any] = {**_in_memory(memory, delivery), **declared}
    if redis:
        result.update(
            {
                "redis_per_s": {k: round(v) for k, v in redis.items() if not k.endswith("_ms")},
                "redis_publish_vs_raw": _ratio(redis["publish"], redis["raw_publish"]),
                "redis_consume_vs_raw": _ratio(redis["consume"], redis["raw_consume"]),
                "redis_latency_p50_ms": round(redis["p50_ms"], 3),
                "redis_latency_p99_ms": round(redis["p99_ms"], 3),
                "raw_redis_py_latency_p50_ms": round(redis["raw_hop_p50_ms"], 3),
                "raw_redis_py_latency_p99_ms": round(redis["raw_hop_p99_ms"], 3),
                "redis_latency_p99_vs_raw": _ratio(redis["p99_ms"], redis["raw_hop_p99_ms"]),
                "raw_xadd_round_trip_p50_ms": round(redis["raw_p50_ms"], 3),
                "raw_xadd_round_trip_p99_ms": round(redis["raw_p99_ms"], 3),
            }
        )
    result.update(keyed)
    try:
        result["rabbitmq"] = asyncio.run(rabbitmq_figures())
    except (OSError, ConnectionError) as exc:
        print(f"RabbitMQ figures skipped: {exc}", file=sys.stderr)
    result["seconds"] = round(time.perf_counter() - started, 1)
    _print_table(result)
    print(json.dumps(result))


def _print_memory_table(r: dict[str, Any]) -> None:
    m, d = r["memory_publish_per_s"], r["async_delivery_per_s"]
    print("in-memory publish (events/s; ours = enqueue, peers = inline no-op receivers)")
    for n in (1, 10):
        print(
            f"  {n:>2} subscriber(s): ours {m[f'ours_{n}']:>10,}  pyee {m[f'pyee_{n}']:>10,}"
            f"  blinker {m[f'blinker_{n}']:>10,}   x{r[f'memory_vs_pyee_{n}']} pyee,"
            f" x{r[f'memory_vs_blinker_{n}']} blinker"
        )
    print(
        f"  10 + 1,000 non-matching wildcard subscriptions: ours {m['ours_10_wild']:>10,}"
        f"  (10 alone / this = {r['wildcard_slowdown']})"
    )
    before = r["before_issue_18"]["async_delivery_per_s"]
    print("async delivery to async handlers (events/s, publish until all handled)")
    for n in (1, 10):
        print(
            f"  {n:>2} subscriber(s): ours {d[f'ours_{n}']:>10,}  pyee AsyncIOEventEmitter "
            f"{d[f'pyee_{n}']:>10,}   x{r[f'async_delivery_vs_pyee_{n}']}   (before issue 18: "
            f"{before[f'ours_{n}']:,}, now x{r[f'async_delivery_vs_before_issue_18_{n}']})"
        )


def _print_table(r: dict[str, Any]) -> None:
    _print_memory_table(r)
    print("\n".join(payload_table(r)))
    if "redis_per_s" in r:
        x = r["redis_per_s"]
        print("Redis Streams (events/s)")
        print(
            f"  publish: ours {x['publish']:>8,}  raw XADD pipelines {x['raw_publish']:>8,}"
            f"   x{r['redis_publish_vs_raw']}   (concurrent publish() calls: "
            f"{x['publish_concurrent']:,})"
        )
        print(
            f"  consume: ours {x['consume']:>8,}  raw XREADGROUP+XACK {x['raw_consume']:>8,}"
            f"   x{r['redis_consume_vs_raw']}"
        )
        print(
            f"  latency publish->handler: p50 {r['redis_latency_p50_ms']} ms, "
            f"p99 {r['redis_latency_p99_ms']} ms; raw redis-py XADD->XREADGROUP: "
            f"p50 {r['raw_redis_py_latency_p50_ms']} ms, p99 {r['raw_redis_py_latency_p99_ms']} ms"
            f"   (one raw XADD round trip: p50 {r['raw_xadd_round_trip_p50_ms']} ms,"
            f" p99 {r['raw_xadd_round_trip_p99_ms']} ms)"
        )
    if "partitioned" in r:
        print("Redis keyed partitions (events/s, beside the unpartitioned topic)")
        for line in [*partitioned_table(r["partitioned"]), *rebalance_table(r["rebalance"])]:
            print(f"  {line}")
    if "rabbitmq" in r:
        print("RabbitMQ (events/s, publisher confirms on both sides)")
        for line in rabbitmq_table(r["rabbitmq"]):
            print(f"  {line}")
    print(f"({r['seconds']} s)")


if __name__ == "__main__":
    logger.remove()  # keep warnings: the rebalance notes of every round would bury the table
    logger.add(sys.stderr, level="WARNING")
    main(memory_only="--memory" in sys.argv[1:])
