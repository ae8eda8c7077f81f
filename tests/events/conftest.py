"""Event bus fixtures: a real Redis on 127.0.0.1:6379 (skipped when absent, a failure on CI)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from framework.events.settings import Backend, BusSettings

REDIS_URL = "redis://127.0.0.1:6379/0"
SIGNING_KEY = "test-signing-key-0123456789abcdef"


def run(coroutine: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    """Run one test's coroutine on a fresh event loop, bounded so a bug cannot hang the suite."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool], timeout: float = 3.0, what: str = "") -> None:
    """Wait until ``predicate()`` holds; fail the test naming ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        await asyncio.sleep(0.005)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """``until`` for a test without an event loop: poll ``condition``, fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def _ping() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return str(exc)
    finally:
        client.close()
    return None


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL; skips the test when Redis is down, fails it when CI=true."""
    error = _ping()
    if error is not None:
        message = f"Redis not reachable on 127.0.0.1:6379: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A stream prefix unique to the test; every key under it is deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_settings(prefix: str, redis_url: str) -> Callable[..., BusSettings]:
    """Build Redis bus settings for this test's prefix; keyword arguments override keys.

    Top-level keys go as they are; ``redis={...}`` overrides keys of the redis sub-section.
    """

    def build(**changes: Any) -> BusSettings:
        redis_changes = {
            "url": redis_url,
            "stream_prefix": prefix,
            "signing_key": SIGNING_KEY,
            "block_ms": 50,
            "claim_idle_ms": 400,
            "refresh_ms": 50,
            **changes.pop("redis", {}),
        }
        base = BusSettings(backend=Backend.REDIS, max_retries=0)
        return base.with_changes(redis=redis_changes, **changes)

    return build


@pytest.fixture
def raw_redis(redis_url: str) -> Iterator[redis.Redis]:
    """A plain synchronous redis-py client, to look at (or forge) what the bus wrote."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def spawn_ready(script: Path, *args: str, what: str) -> subprocess.Popen[str]:
    """Start ``python script *args`` from the repository root; return once it prints "ready"
    (log lines may come first), or fail the test with what it printed before it exited."""
    process = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.strip() == "ready":
            return process
    pytest.fail(f"{what} exited before it was ready:\n{''.join(lines)}")
