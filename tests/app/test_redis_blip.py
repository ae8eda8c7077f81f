"""The shipped app over Redis stays up through a Redis restart, and says so while Redis is gone.

The test runs a redis-server of its own on a free port (nothing saved: a restart comes back
empty), kills it under the running app and starts it again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from framework.testing import run_app
from tests.health.apps import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
SIGNING_KEY = "change-me-0123456789"
pytestmark = pytest.mark.timeout(90)


class RedisServer:
    """A redis-server process on ``port`` that the test kills and starts again at will."""

    def __init__(self, executable: str, port: int, workdir: Path) -> None:
        self.executable, self.port, self.workdir = executable, port, workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
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


def test_the_pipeline_is_not_ready_while_redis_is_down_and_recovers_when_it_returns(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Kill Redis: /health/ready answers 503 naming the bus and the feed, which reports unhealthy.
    Start Redis again: ticks flow through it again and the app is ready."""
    port = free_port()
    overrides = [
        "event_bus=redis",
        f"event_bus.redis.url={redis_server.url}",
        f"http.port={port}",
        "health.interval=0.1",
        "profile=fast",
        f"components.storage.config.path={tmp_path / 'market.sqlite3'}",
    ]
    env = {"MARKET_BUS_KEY": SIGNING_KEY}
    with run_app(*overrides, cwd=REPO, env=env) as app, httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=5
    ) as http:

        def feed_health() -> dict[str, Any]:
            rows = {row["name"]: row for row in http.get("/components").json()}
            return dict(rows["feed"]["health"] or {})

        wait_for(lambda: http.get("/health/ready").status_code == 200, 20, "the app to be ready")
        app.wait_for(lambda line: line["message"].startswith("analyzed "), 20)  # ticks flow end to end

        redis_server.kill()
        not_ready = wait_for(
            lambda: (r := http.get("/health/ready")).status_code == 503 and r.json(), 10, "a 503 from /health/ready"
        )
        reasons = " | ".join(not_ready["reasons"])
        assert f"event_bus is unhealthy: Redis at 127.0.0.1:{redis_server.port} unreachable" in reasons
        feed = wait_for(lambda: (h := feed_health()).get("status") == "unhealthy" and h, 10, "the feed unhealthy")
        assert feed["details"]["error"].startswith("cannot publish market.tick: Redis at 127.0.0.1:")
        assert app.process.poll() is None

        restarted = app.mark()
        redis_server.start()
        app.wait_for(lambda line: line["message"].startswith("publishing again after "), 20, after=restarted)
        app.wait_for(lambda line: line["message"].startswith("prices "), 20)  # the feed ticks again
        app.wait_for(lambda line: line["message"].startswith("analyzed "), 20)  # and the analyzer gets them
        wait_for(lambda: http.get("/health/ready").status_code == 200, 20, "the app to be ready again")
        assert feed_health()["status"] == "healthy"
        assert not app.events("component.task_failed")
    assert app.process.returncode == 0
