"""Servers a test runs of its own, to stop and start at will: a redis-server on a free port."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.health.apps import free_port, wait_for


class RedisServer:
    """A redis-server process on ``port`` that the test kills and starts again at will."""

    def __init__(self, executable: str, port: int, workdir: Path, persist: bool = False) -> None:
        self.executable, self.port, self.workdir, self.persist = executable, port, workdir, persist
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # ``persist``: an append-only file in ``workdir``, so a restart comes back with the data
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes" if self.persist else "no"]
        self.process = subprocess.Popen(
            [self.executable, *args], cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(self._answers, 10, f"redis-server on port {self.port} to answer")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"redis-server on port {self.port} exited with {self.process.returncode}")
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server of this test's own; skipped without one (a failure under CI=true)."""
    executable = shutil.which("redis-server")
    if executable is None:
        message = "redis-server is not installed (the test runs one of its own)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(executable, free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
