"""Publish and drain rates of a bus, shared by the benchmarks that compare bus set-ups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from framework.events.bus import EventBus

BURST = 500  # events per publish_many


async def publish_and_drain(
    make_bus: Callable[[], EventBus], data: Sequence[tuple[str, Any]], pattern: str
) -> tuple[float, float]:
    """Events per second ``data`` is published at (in bursts, by one bus), then drained at by a
    subscriber of ``pattern`` (another bus, subscribing as ``bench``, whose group must exist)."""
    async with make_bus() as publisher:
        began = time.perf_counter()
        for start in range(0, len(data), BURST):
            await publisher.publish_many(data[start : start + BURST])
        published = len(data) / (time.perf_counter() - began)
    seen, done = 0, asyncio.Event()

    def handle(event: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == len(data):
            done.set()

    async with make_bus() as subscriber:
        began = time.perf_counter()
        await subscriber.subscribe(pattern, handle, subscriber="bench")
        await asyncio.wait_for(done.wait(), 300)
        return published, len(data) / (time.perf_counter() - began)
