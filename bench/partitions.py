"""Keyed (partitioned) publish and consume against the plain consumer group on Redis, in one run.

    python bench/partitions.py [EVENTS]

``bench/bus.py`` runs the same (``partitioned_figures``) beside its other figures.

For P = 1, 8 and 32, on the same Redis: a subscriber joins its group (for the keyed topic,
until it owns every partition) and leaves, so the group exists and keeps its place. Another bus
then publishes EVENTS events over 100 keys in ``publish_many`` bursts of 500: the publish rate
(for the keyed topic every event goes to its key's partition stream). Then a subscriber joins
the group again, and the time runs from its ``subscribe`` until its handler has seen every
event: the backlog's consume rate (verify, decode, handle, ack: fenced per partition for the
keyed topic, which also takes the join and the lease). The plain case is the same events on an
unkeyed topic, published and read as before partitions existed: the peer keyed delivery is
measured against. Each case runs five times; the best counts (plain's best of all, as it does
not depend on P). Every key the run made is deleted. The last line is JSON: events/s of each
and the keyed/plain ratio per P (the goal of issue 20: consume at least 0.8 at P=8).
Rebalance times: bench/rebalance.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

import redis.asyncio as aioredis
from _rates import publish_and_drain  # bench/, first on the path
from loguru import logger
from redis.exceptions import ResponseError

from framework.events.factory import create_bus
from framework.events.redis.connection import Keys
from framework.events.settings import Backend, BusSettings, RedisSettings, TopicSettings

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
KEYS = [f"key-{n}" for n in range(100)]
ROUNDS = 5  # runs of each case; the best counts (other load on the machine skews less)
PARTITION_COUNTS = (1, 8, 32)


def settings(prefix: str, partitions: int) -> BusSettings:
    redis = RedisSettings(url=URL, stream_prefix=prefix, signing_key="bench-signing-key-0123456789", block_ms=50)
    topics = {"bench.keyed": TopicSettings(key="k", partitions=partitions)}
    return BusSettings(backend=Backend.REDIS, max_retries=0, redis=redis, topics=topics, history_size=0)


async def rates(topic: str, partitions: int, events: int) -> tuple[float, float]:
    """Events per second ``events`` are published at, then a subscriber drains them at."""
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    try:
        async with create_bus(settings(prefix, partitions)) as first:
            await _join(first, prefix, topic, partitions, lambda event: None)
        data = [(topic, {"k": KEYS[n % len(KEYS)], "n": n}) for n in range(events)]
        return await publish_and_drain(lambda: create_bus(settings(prefix, partitions)), data, topic)
    finally:
        await _delete(prefix)


async def _join(bus: Any, prefix: str, topic: str, partitions: int, handler: Any) -> None:
    """Subscribe; for the keyed topic, return once the bus owns every partition and the group
    exists on each partition stream. Owning comes first: the owner creates the group when it
    starts reading a partition, so a bus stopped right after owning may leave none, and the
    next subscriber would create it at the stream's end, past every event published meanwhile."""
    await bus.subscribe(topic, handler, subscriber="bench")
    if topic == "bench.keyed":
        while not await _owns_all(bus, partitions) or not await _groups_exist(prefix, topic, partitions):
            await asyncio.sleep(0.01)


async def _owns_all(bus: Any, partitions: int) -> bool:
    statuses = await bus.partitions()
    return any(len(status.owned) == partitions for status in statuses)


async def _groups_exist(prefix: str, topic: str, partitions: int) -> bool:
    keys, client = Keys(prefix, node="bench"), aioredis.from_url(URL)
    try:
        for partition in range(partitions):
            groups = await client.xinfo_groups(keys.partition(topic, partition))
            if not any(group["name"] == b"bench" for group in groups):
                return False
        return True
    except ResponseError:  # no such stream yet
        return False
    finally:
        await client.aclose()


async def _delete(prefix: str) -> None:
    client = aioredis.from_url(URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for first in range(0, len(keys), 1000):
            await client.delete(*keys[first : first + 1000])
    finally:
        await client.aclose()


async def _best(topic: str, partitions: int, events: int) -> tuple[float, float]:
    """The best publish and the best consume rate of ``ROUNDS`` runs."""
    runs = [await rates(topic, partitions, events) for _ in range(ROUNDS)]
    return max(run[0] for run in runs), max(run[1] for run in runs)


async def partitioned_figures(events: int = 20_000) -> dict[str, Any]:
    """Plain and keyed (per P) publish and consume rates, and the keyed/plain ratios."""
    # The plain topic does not depend on P: its best runs of all are the peer for every P.
    plain_publish, plain_consume = await _best("bench.plain", 1, events)
    result: dict[str, Any] = {
        "events": events,
        "keys": len(KEYS),
        "plain": {"publish_per_s": round(plain_publish), "consume_per_s": round(plain_consume)},
    }
    for partitions in PARTITION_COUNTS:
        publish, consume = await _best("bench.keyed", partitions, events)
        result[f"p{partitions}"] = {
            "publish_per_s": round(publish),
            "publish_vs_plain": round(publish / plain_publish, 3),
            "consume_per_s": round(consume),
            "consume_vs_plain": round(consume / plain_consume, 3),
        }
    return result


def partitioned_table(figures: dict[str, Any]) -> list[str]:
    """The lines of a table of ``partitioned_figures``."""
    plain = figures["plain"]
    lines = [f"plain: publish {plain['publish_per_s']:9,}, consume {plain['consume_per_s']:9,} events/s"]
    for partitions in PARTITION_COUNTS:
        keyed = figures[f"p{partitions}"]
        lines.append(
            f"P={partitions:2d}: publish {keyed['publish_per_s']:9,} ({keyed['publish_vs_plain']:.2f} x plain),"
            f" consume {keyed['consume_per_s']:9,} ({keyed['consume_vs_plain']:.2f} x plain)"
        )
    return lines


async def main(events: int) -> None:
    figures = await partitioned_figures(events)
    print("\n".join(partitioned_table(figures)))
    print(json.dumps(figures))


if __name__ == "__main__":
    logger.remove()  # the rebalances of every round would bury the table
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
