"""A member process for the keyed-partition process tests: handles 'orders.placed' in group 'svc'.

Usage: python keyed_member.py URL PREFIX NAME SIGNING_KEY LEASE_MS HEARTBEAT_MS HANG_SEQ HANG_SECONDS

The topic is keyed by its 'key' field over 8 partitions (config, so members join before any
publish). Everything the member does goes to the one Redis list {prefix}:log, in the order it
happens across every process:
- "assigned NAME p,p,..." and "revoked NAME p,p,..." from the partition hooks;
- "start NAME KEY SEQ" when a handler begins, "end NAME KEY SEQ" when it returns;
- "hang NAME KEY SEQ" when the handler of HANG_SEQ, on its first delivery, starts to wait
  HANG_SECONDS (the test kills or stops the process meanwhile). A redelivery never waits.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import redis.asyncio as aioredis

from framework.events.envelope import Envelope
from framework.events.partitioning import Partition
from framework.events.redis.bus import RedisBus
from framework.events.settings import Backend, BusSettings, TopicSettings

TOPIC, GROUP = "orders.placed", "svc"


def settings(url: str, prefix: str, name: str, signing_key: str, lease_ms: int, heartbeat_ms: int) -> BusSettings:
    redis = {
        "url": url, "stream_prefix": prefix, "consumer": name, "signing_key": signing_key,
        "lease_ms": lease_ms, "heartbeat_ms": heartbeat_ms, "block_ms": 50, "refresh_ms": 50,
    }
    base = BusSettings(backend=Backend.REDIS, max_retries=0, partitions=8)
    return base.with_changes(redis=redis, topics={TOPIC: TopicSettings(key="key")})


async def main(argv: list[str]) -> None:
    url, prefix, name, signing_key, lease_ms, heartbeat_ms, hang_seq, hang_seconds = argv
    records, log = aioredis.Redis.from_url(url), f"{prefix}:log"

    async def handle(envelope: Envelope) -> None:
        key, seq = envelope.key, envelope.data["seq"]
        await records.rpush(log, f"start {name} {key} {seq}")
        if seq == int(hang_seq) and envelope.attempts == 1:
            await records.rpush(log, f"hang {name} {key} {seq}")
            await asyncio.sleep(float(hang_seconds))
        await records.rpush(log, f"end {name} {key} {seq}")

    def hook(action: str):  # type: ignore[no-untyped-def]
        async def record(partitions: frozenset[Partition]) -> None:
            await records.rpush(log, f"{action} {name} {','.join(str(p.index) for p in sorted(partitions, key=lambda p: p.index))}")

        return record

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with RedisBus(settings(url, prefix, name, signing_key, int(lease_ms), int(heartbeat_ms))) as bus:
        await bus.subscribe(
            TOPIC, handle, subscriber=GROUP,
            on_partitions_assigned=hook("assigned"), on_partitions_revoked=hook("revoked"),
        )
        print("ready", flush=True)
        await stop.wait()
    await records.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:9]))
