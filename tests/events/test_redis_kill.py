"""A Redis consumer process restarted: copies XADDed while it was down are never handled.

(The SIGKILL of one of two consumers mid-handler runs for every backend in test_behaviour.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from framework.events.redis.bus import RedisBus
from framework.events.settings import BusSettings
from tests.events.conftest import read_records, run, spawn_consumer, stop_processes, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]
HANDLER_SECONDS = 0.15


def test_copies_xadded_while_the_consumer_was_down_are_rejected_after_it_restarts(
    redis_url: str,
    prefix: str,
    raw_redis: redis.Redis,
    redis_settings: Callable[..., BusSettings],
    tmp_path: Path,
) -> None:
    """Copies of handled entries, XADDed while the only consumer was stopped, are dead-lettered by the restarted process."""
    stream = f"{prefix}:jobs.run"

    async def publish(count: int) -> list[str]:
        async with RedisBus(redis_settings()) as bus:
            return [(await bus.publish("jobs.run", i)).id for i in range(count)]

    def handled_ids() -> list[str]:
        return [i for _, i in read_records(tmp_path / "handled")]

    first = spawn_consumer("redis", redis_url, prefix, "worker", tmp_path, HANDLER_SECONDS)
    try:
        ids = run(publish(3))
        wait_until(lambda: sorted(handled_ids()) == sorted(ids), 10, "the first process to handle every event")
    finally:
        stop_processes(first)
    for _, fields in raw_redis.xrange(stream):
        raw_redis.xadd(stream, fields)
    second = spawn_consumer("redis", redis_url, prefix, "worker", tmp_path, HANDLER_SECONDS)
    try:
        ids += run(publish(1))
        wait_until(lambda: len(handled_ids()) == 4 and raw_redis.xlen(f"{prefix}:@dead") == 3, 10, "the copies to be dead-lettered")
        time.sleep(0.3)  # a late delivery would show up by now
    finally:
        stop_processes(second)
    assert sorted(handled_ids()) == sorted(ids)
    reasons = [fields[b"reason"] for _, fields in raw_redis.xrange(f"{prefix}:@dead")]
    assert reasons == [b"replayed"] * 3
    assert raw_redis.xpending(stream, "workers")["pending"] == 0
