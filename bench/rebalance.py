"""Partition rebalance time on the real Redis: a member joins (or dies), until every partition is owned again.

    python bench/rebalance.py [ROUNDS]

``bench/bus.py`` runs the same (``rebalance_figures``) beside its other figures.

Each round starts two coordinators of one group on a topic with P=8 partitions and waits
until they share them 4/4. Then:
- join: a third member starts; timed from just before its ``start()`` until the three own
  all 8 partitions 3/3/2 (every moved partition revoked by its old owner, then taken);
- crash: one of the three stops heartbeating without releasing (``abandon()``);
  timed until the two others own all 8 again, which cannot be sooner than its leases expire;
  also timed from its last heartbeat (when its leases were last renewed): at least a lease.
Each join and crash comes at a random moment within a heartbeat, as it would in real life.
The default settings are used (lease 3 s, heartbeat 1 s); ownership is polled every 5 ms.
Every key the run made is deleted. The last line is JSON with p50 and p99 of each, in
seconds and as a multiple of the lease time (the goal of issue 20: join p99 under 2x).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from framework.events.redis.connection import Connection
from framework.events.redis.coordinator import Coordinator
from framework.events.redis.leases import PartitionLeases, View
from framework.events.settings import RedisSettings

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TOPIC, GROUP, PARTITIONS = "bench.tick", "bench", 8
LEASE_MS, HEARTBEAT = 3000, 1.0


def _refuse(what: str) -> None:
    raise RuntimeError(f"connection not open: cannot {what}")


LAST_BEAT: dict[str, float] = {}  # member -> perf_counter when its last heartbeat was sent


class TimedLeases(PartitionLeases):
    """Notes when each heartbeat is sent, so a crash can be timed from the last one."""

    async def beat(self, tokens: Mapping[int, int]) -> View:
        LAST_BEAT[self.member] = time.perf_counter()
        return await super().beat(tokens)


async def _member(prefix: str, name: str, connections: list[Connection]) -> Coordinator:
    connection = Connection(RedisSettings(url=URL, stream_prefix=prefix, consumer=name), name, _refuse)
    await connection.open()
    connections.append(connection)
    leases = TimedLeases(connection, TOPIC, GROUP, PARTITIONS, name, lease_ms=LEASE_MS)
    coordinator = Coordinator(leases, heartbeat=HEARTBEAT)
    await coordinator.start()
    return coordinator


def _balanced(members: list[Coordinator]) -> bool:
    owned = [p for c in members for p in c.owned]
    counts = [len(c.owned) for c in members]
    return sorted(owned) == list(range(PARTITIONS)) and max(counts) - min(counts) <= 1


async def _until(condition: list[Coordinator], timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while not _balanced(condition):
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"not rebalanced after {timeout} s")
        await asyncio.sleep(0.005)
    return time.perf_counter() - start


async def _round() -> tuple[float, float, float]:
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    connections: list[Connection] = []
    members = [await _member(prefix, "a", connections), await _member(prefix, "b", connections)]
    try:
        await _until(members)
        await asyncio.sleep(random.uniform(0, HEARTBEAT))  # join at any phase of the others' beats
        start = time.perf_counter()
        members.append(await _member(prefix, "c", connections))
        await _until(members)
        joined = time.perf_counter() - start
        await asyncio.sleep(random.uniform(0, HEARTBEAT))
        victim = members.pop(0)
        await victim.abandon()  # it stops beating, releasing nothing
        crashed = await _until(members)
        since_last_beat = time.perf_counter() - LAST_BEAT[victim.member]
        return joined, crashed, since_last_beat
    finally:
        for member in members:
            await member.stop()
        client = connections[0].client
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
        for connection in connections:
            await connection.close()


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    lease = LEASE_MS / 1000
    return {
        "p50_s": round(statistics.median(ordered), 3),
        "p99_s": round(p99, 3),
        "max_s": round(ordered[-1], 3),
        "p50_x_lease": round(statistics.median(ordered) / lease, 3),
        "p99_x_lease": round(p99 / lease, 3),
    }


async def rebalance_figures(rounds: int = 20, show: Callable[[str], None] = print) -> dict[str, Any]:
    """p50 and p99 of the join and crash times over ``rounds`` rounds; ``show`` gets a line per round."""
    joins, crashes, silences = [], [], []
    for n in range(rounds):
        joined, crashed, silence = await _round()
        joins.append(joined)
        crashes.append(crashed)
        silences.append(silence)
        show(f"round {n + 1:2d}: join {joined:.3f} s, crash {crashed:.3f} s ({silence:.3f} s after its last beat)")
    return {
        "lease_s": LEASE_MS / 1000,
        "heartbeat_s": HEARTBEAT,
        "partitions": PARTITIONS,
        "rounds": rounds,
        "join": _summary(joins),
        "crash": _summary(crashes),
        "crash_since_last_beat": _summary(silences),
    }


def rebalance_table(figures: dict[str, Any]) -> list[str]:
    """The lines of a table of ``rebalance_figures``."""
    join, crash = figures["join"], figures["crash"]
    return [
        f"rebalance (P={figures['partitions']}, lease {figures['lease_s']:g} s, {figures['rounds']} rounds):"
        f" join p50 {join['p50_s']:.3f} s, p99 {join['p99_s']:.3f} s;"
        f" crash p50 {crash['p50_s']:.3f} s, p99 {crash['p99_s']:.3f} s"
    ]


async def main(rounds: int) -> None:
    figures = await rebalance_figures(rounds, lambda line: print(line, flush=True))
    print("\n".join(rebalance_table(figures)))
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
