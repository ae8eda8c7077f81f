"""The shipped app on a Redis Cluster, with the command the README shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis

from framework.testing import run_app
from tests.readme import section_command

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.redis_cluster


def readme_cluster_command() -> str:
    return section_command("### Running on a Redis Cluster", r"MARKET_BUS_KEY=\S+ integrate run .+")


def test_the_readme_command_runs_the_pipeline_on_a_cluster(tmp_path: Path, redis_cluster: str) -> None:
    """`integrate run event_bus=redis event_bus.redis.cluster=true event_bus.redis.url=...`: ticks
    reach the analyzer through its keyed partitions, signals the trader, and a trade is made;
    the tick stream's partitions are named with the topic as their hash tag."""
    command = readme_cluster_command()
    key = re.match(r"MARKET_BUS_KEY=(\S+)", command).group(1)  # type: ignore[union-attr]
    # The session's cluster is on the README's ports, or ten further per xdist worker.
    args = [
        f"event_bus.redis.url={redis_cluster}" if arg.startswith("event_bus.redis.url=") else arg
        for arg in command.split("integrate run", 1)[1].split()
    ]
    args += ["~components.admin", "profile=fast", f"components.storage.config.path={tmp_path / 'm.db'}"]
    with run_app(*args, cwd=REPO, env={"MARKET_BUS_KEY": key}) as app:
        app.wait_for(lambda line: line["message"].startswith("analyzed "), 30, after=0)
        trade = app.wait_for(lambda line: line["message"].startswith("trade "), 30, after=0)
        assert trade["component"] == "trader"
        assert not [line for line in app.lines if line.get("level") in ("ERROR", "CRITICAL")]
    with redis.RedisCluster.from_url(redis_cluster) as raw:
        assert list(raw.scan_iter(match="market:{market.tick}:[0-9]*")) and raw.exists("market:{signal.generated}")
