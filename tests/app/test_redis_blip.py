"""The shipped app over Redis stays up through a Redis restart, and says so while Redis is gone.

The test runs a redis-server of its own on a free port (nothing saved: a restart comes back
empty), kills it under the running app and starts it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from framework.testing import run_app
from tests.health.apps import free_port, wait_for
from tests.servers import RedisServer

REPO = Path(__file__).resolve().parents[2]
SIGNING_KEY = "change-me-0123456789"
pytestmark = pytest.mark.timeout(90)


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
