"""The Redis Streams bus on a Redis Cluster beside the same bus on one Redis server, in one run.

    python bench/cluster.py [EVENTS]

The cluster is six local ``redis-server`` processes (3 masters, 3 replicas) started for the run
on 127.0.0.1:7101-7106 by ``tests/cluster.py``'s ``LocalCluster`` (the harness the tests use:
one way to start a cluster, kept beside the tests that need it most), or the cluster at
``BENCH_CLUSTER_URL`` if set. The single server is ``BENCH_REDIS_URL`` (127.0.0.1:6379).

For 1 topic and for 8 topics (which spread over the masters): a subscriber joins its group and
leaves, then a bus publishes EVENTS events in ``publish_many`` bursts of 500, round-robin over
the topics: the publish rate (on the cluster, one script call per topic's slot per burst, sent
concurrently). Then a subscriber of ``bench.*`` joins again and the time runs from its
``subscribe`` until its handler has seen every event: the consume rate (on the cluster, one
read in flight per slot). Each case runs ``ROUNDS`` times per mode, alternating; the best
counts. The last line is JSON: events/s of each mode and the cluster/single ratios.

On one machine the cluster's masters share its cores with the client and with their replicas,
so the ratio shows what the cluster's routing costs, not what more machines would add.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.cluster

from _rates import BURST, publish_and_drain  # noqa: E402  (bench/, first on the path)

from framework.events.factory import create_bus  # noqa: E402
from framework.events.redis.client import redis_client  # noqa: E402
from framework.events.settings import Backend, BusSettings  # noqa: E402
from tests.cluster import LocalCluster  # noqa: E402

SINGLE_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROUNDS, TOPIC_COUNTS = 3, (1, 8)
DATA = {"symbol": "BTC-USD", "price": 64123.5, "size": 0.25}


def settings(url: str, cluster: bool, prefix: str) -> BusSettings:
    redis = {"url": url, "cluster": cluster, "stream_prefix": prefix, "signing_key": "bench-signing-key-0123456789", "block_ms": 50}
    return BusSettings(backend=Backend.REDIS, max_retries=0, history_size=0).with_changes(redis=redis)


async def rates(url: str, cluster: bool, topics: int, events: int) -> tuple[float, float]:
    """Events per second ``events`` are published at, then a subscriber drains them at."""
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    names = [f"bench.t{n}" for n in range(topics)]
    try:
        async with create_bus(settings(url, cluster, prefix)) as first:
            for name in names:  # exact subscriptions: every group exists before the publishes
                await first.subscribe(name, lambda event: None, subscriber=f"warm-{name}")
            await first.subscribe("bench.*", lambda event: None, subscriber="bench")
        data = [(names[n % topics], DATA) for n in range(events)]
        return await publish_and_drain(lambda: create_bus(settings(url, cluster, prefix)), data, "bench.*")
    finally:
        await _delete(url, cluster, prefix)


async def _delete(url: str, cluster: bool, prefix: str) -> None:
    """Delete every key of the run (streams and replay records), on every master of a cluster."""
    client: Any = redis_client(url, cluster=cluster, connect_timeout=2.0, client_name="bench")
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        async with client.pipeline(transaction=False) as pipe:  # a cluster's splits it per node
            for key in keys:
                pipe.delete(key)
            await pipe.execute()
    finally:
        await client.aclose()


async def figures(cluster_url: str, events: int) -> dict[str, Any]:
    """Per topic count: both modes' best publish and consume rates, and cluster/single ratios."""
    result: dict[str, Any] = {"events": events, "burst": BURST}
    for topics in TOPIC_COUNTS:
        runs: dict[str, list[tuple[float, float]]] = {"single": [], "cluster": []}
        for _ in range(ROUNDS):  # alternating, so a slow moment of the machine hits both
            runs["single"].append(await rates(SINGLE_URL, False, topics, events))
            runs["cluster"].append(await rates(cluster_url, True, topics, events))
        best = {mode: (max(r[0] for r in rs), max(r[1] for r in rs)) for mode, rs in runs.items()}
        result[f"topics_{topics}"] = {
            "single": {"publish_per_s": round(best["single"][0]), "consume_per_s": round(best["single"][1])},
            "cluster": {"publish_per_s": round(best["cluster"][0]), "consume_per_s": round(best["cluster"][1])},
            "publish_cluster_vs_single": round(best["cluster"][0] / best["single"][0], 3),
            "consume_cluster_vs_single": round(best["cluster"][1] / best["single"][1], 3),
        }
    return result


def table(result: dict[str, Any]) -> list[str]:
    lines = []
    for topics in TOPIC_COUNTS:
        case = result[f"topics_{topics}"]
        for mode in ("single", "cluster"):
            lines.append(
                f"{topics} topic(s), {mode:7}: publish {case[mode]['publish_per_s']:9,}, "
                f"consume {case[mode]['consume_per_s']:9,} events/s"
            )
        lines.append(
            f"{topics} topic(s), cluster/single: publish {case['publish_cluster_vs_single']:.2f},"
            f" consume {case['consume_cluster_vs_single']:.2f}"
        )
    return lines


async def main(events: int) -> None:
    url = os.environ.get("BENCH_CLUSTER_URL")
    if url:
        result = await figures(url, events)
    else:
        with LocalCluster() as local:
            result = await figures(local, events)
    print("\n".join(table(result)))
    print(json.dumps(result))


if __name__ == "__main__":
    logger.remove()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
