"""Event bus fixtures: a real Redis on 127.0.0.1:6379, a real RabbitMQ on 127.0.0.1:5672 (each
skipped when absent, a failure on CI), and settings for the session's Redis Cluster
(``redis_cluster``, in ``tests/conftest.py``)."""

from __future__ import annotations

import asyncio
import signal
import socket
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
from tests.conftest import require_server

REDIS_URL = "redis://127.0.0.1:6379/0"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"  # the defaults, spelled out
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
    require_server(_ping(), "Redis on 127.0.0.1:6379")
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
    return lambda **changes: bus_settings(redis_url, prefix, **changes)


def bus_settings(url: str, prefix: str, *, cluster: bool = False, **changes: Any) -> BusSettings:
    """Redis bus settings quick to notice a dead consumer, for a test's prefix (``redis_settings``)."""
    redis_changes = {
        "url": url,
        "cluster": cluster,
        "stream_prefix": prefix,
        "signing_key": SIGNING_KEY,
        "block_ms": 50,
        "claim_idle_ms": 400,
        "refresh_ms": 50,
        **changes.pop("redis", {}),
    }
    base = BusSettings(backend=Backend.REDIS, max_retries=0)
    return base.with_changes(redis=redis_changes, **changes)


@pytest.fixture
def cluster_prefix(redis_cluster: str) -> str:
    """A stream prefix unique to the test, on the session's cluster (which goes with its keys)."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def cluster_settings(cluster_prefix: str, redis_cluster: str) -> Callable[..., BusSettings]:
    """``redis_settings`` for the session's Redis Cluster (``redis.cluster`` on)."""
    return lambda **changes: bus_settings(redis_cluster, cluster_prefix, cluster=True, **changes)


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


def _amqp_ping() -> str | None:
    """None when an AMQP 0-9-1 server answers the protocol header on 127.0.0.1:5672."""
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1) as sock:
            sock.settimeout(1)
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            frame = sock.recv(7)
    except OSError as exc:
        return str(exc)
    if frame[:1] != b"\x01":  # a method frame (Connection.Start) on channel 0
        return f"not an AMQP 0-9-1 server (it answered {frame!r})"
    return None


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The test RabbitMQ URL; skips the test when RabbitMQ is down, fails it when CI=true."""
    require_server(_amqp_ping(), "RabbitMQ on 127.0.0.1:5672")
    return RABBITMQ_URL


@pytest.fixture
def exchange(rabbitmq_url: str) -> Iterator[RabbitNames]:
    """An exchange name unique to the test; afterwards its exchanges and every queue named by
    ``names.queues`` (the ones the test's buses declared), and the dead-letter queue, are deleted."""
    names = RabbitNames(f"test-{uuid.uuid4().hex[:12]}")
    yield names
    asyncio.run(names.delete(rabbitmq_url))


class RabbitNames:
    """One test's exchange, and the queues to delete after it (add a bus's with ``track``)."""

    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.queues: set[str] = {f"{exchange}.@dead"}
        self.buses: list[Any] = []

    def track(self, bus: Any) -> Any:
        """Remember the queues a RabbitBus declares (read at the end of the test); return it."""
        self.buses.append(bus)
        return bus

    def settings(self, url: str = RABBITMQ_URL, **changes: Any) -> BusSettings:
        """RabbitMQ bus settings for this exchange; ``rabbitmq={...}`` overrides its keys."""
        rabbit = {"url": url, "exchange": self.exchange, "signing_key": SIGNING_KEY, **changes.pop("rabbitmq", {})}
        return BusSettings(backend=Backend.RABBITMQ, max_retries=0).with_changes(rabbitmq=rabbit, **changes)

    async def delete(self, url: str) -> None:
        import aio_pika

        for bus in self.buses:
            self.queues |= bus.queues()
        connection = await aio_pika.connect(url)
        try:
            for queue in sorted(self.queues):
                channel = await connection.channel()
                await channel.queue_delete(queue)
                await channel.close()
            channel = await connection.channel()
            for name in (self.exchange, f"{self.exchange}.@dead"):
                await channel.exchange_delete(name)
        finally:
            await connection.close()


class Proxy:
    """A TCP proxy to a real server (Redis by default) that can be cut and restored, like a
    server restart."""

    def __init__(self, upstream: int = 6379) -> None:
        self.port, self.upstream = 0, upstream
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        self._writers |= {writer, up_writer}
        pumps = [asyncio.ensure_future(self._pump(reader, up_writer)),
                 asyncio.ensure_future(self._pump(up_reader, writer))]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)
        await asyncio.gather(*pumps, return_exceptions=True)
        self._tasks.difference_update(pumps)

    @staticmethod
    async def _pump(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            target.write(data)
            await target.drain()


CONSUMER_SCRIPT = Path(__file__).with_name("consumer_process.py")


def spawn_consumer(
    backend: str, url: str, namespace: str, consumer: str, records: Path, seconds: float
) -> subprocess.Popen[str]:
    """Start ``consumer_process.py``: the component 'workers' on 'jobs.run', ready to consume."""
    args = (backend, url, namespace, consumer, SIGNING_KEY, str(seconds), str(records))
    return spawn_ready(CONSUMER_SCRIPT, *args, what=f"consumer {consumer}")


def read_records(path: Path) -> list[tuple[str, str]]:
    """The "<consumer> <event id>" lines a consumer process appended to ``path``, in order."""
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines() if line]  # type: ignore[misc]


def stop_processes(*processes: subprocess.Popen[str]) -> None:
    """SIGTERM the processes still running, wait for them (SIGKILL past 10 s), close their pipes."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
