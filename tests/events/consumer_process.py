"""A consumer process for the SIGKILL test: handles 'jobs.run' in the group 'workers'.

Usage: python consumer_process.py URL PREFIX CONSUMER SIGNING_KEY HANDLER_SECONDS

Each handler records "<consumer> <event id>" in the Redis list {prefix}:started, sleeps, then
records it in {prefix}:handled; the bus acknowledges the entry once the handler has returned.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import redis.asyncio as aioredis

from framework.events.envelope import Envelope
from framework.events.redis.bus import RedisBus
from framework.events.settings import Backend, BusSettings


async def main(url: str, prefix: str, consumer: str, key: str, seconds: float) -> None:
    settings = BusSettings(backend=Backend.REDIS, queue_size=4, max_retries=0).with_changes(
        redis={
            "url": url,
            "stream_prefix": prefix,
            "consumer": consumer,
            "signing_key": key,
            "claim_idle_ms": 600,
            "block_ms": 50,
            "refresh_ms": 50,
        }
    )
    records = aioredis.Redis.from_url(url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def handle(envelope: Envelope) -> None:
        await records.rpush(f"{prefix}:started", f"{consumer} {envelope.id}")
        await asyncio.sleep(seconds)
        await records.rpush(f"{prefix}:handled", f"{consumer} {envelope.id}")

    async with RedisBus(settings) as bus:
        await bus.subscribe("jobs.run", handle, subscriber="workers")
        print("ready", flush=True)
        await stop.wait()
    await records.aclose()


if __name__ == "__main__":
    url, prefix, consumer, key, seconds = sys.argv[1:6]
    asyncio.run(main(url, prefix, consumer, key, float(seconds)))
