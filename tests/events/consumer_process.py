"""A consumer process for the two-process tests: handles 'jobs.run' as the component 'workers'.

Usage: python consumer_process.py BACKEND URL NAMESPACE CONSUMER SIGNING_KEY HANDLER_SECONDS RECORDS

BACKEND is redis, redis-cluster (URL: one node of a Redis Cluster) or rabbitmq; NAMESPACE is the Redis stream prefix or the RabbitMQ exchange.
Each handler appends "<consumer> <event id>" to the file RECORDS/started, sleeps, then appends
it to RECORDS/handled; the bus acknowledges the event once the handler has returned. (One
short write to a file opened for appending lands whole, whichever process writes.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from framework.events.envelope import Envelope
from framework.events.factory import create_bus
from framework.events.settings import Backend, BusSettings


def settings(backend: str, url: str, namespace: str, consumer: str, key: str) -> BusSettings:
    """Small queues and fast failure detection, so a test sees a kill's effects in seconds."""
    cluster = backend == "redis-cluster"
    base = BusSettings(backend=Backend.REDIS if cluster else Backend(backend), queue_size=4, max_retries=0)
    if backend == Backend.RABBITMQ:
        return base.with_changes(rabbitmq={"url": url, "exchange": namespace, "signing_key": key})
    return base.with_changes(
        redis={
            "url": url,
            "cluster": cluster,
            "stream_prefix": namespace,
            "consumer": consumer,
            "signing_key": key,
            "claim_idle_ms": 600,
            "block_ms": 50,
            "refresh_ms": 50,
        }
    )


def record(path: Path, line: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, f"{line}\n".encode())
    finally:
        os.close(descriptor)


async def main(backend: str, url: str, namespace: str, consumer: str, key: str, seconds: float, records: Path) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def handle(envelope: Envelope) -> None:
        record(records / "started", f"{consumer} {envelope.id}")
        await asyncio.sleep(seconds)
        record(records / "handled", f"{consumer} {envelope.id}")

    async with create_bus(settings(backend, url, namespace, consumer, key)) as bus:
        await bus.subscribe("jobs.run", handle, subscriber="workers")
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    backend, url, namespace, consumer, key, seconds, records = sys.argv[1:8]
    asyncio.run(main(backend, url, namespace, consumer, key, float(seconds), Path(records)))
