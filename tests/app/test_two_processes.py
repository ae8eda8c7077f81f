"""Two processes of the shipped app share work over Redis Streams, as the README shows."""

from __future__ import annotations

import re
from pathlib import Path

from framework.testing import run_app

REPO = Path(__file__).resolve().parents[2]


def readme_redis_commands() -> list[str]:
    section = (REPO / "README.md").read_text().split("### Two processes over Redis", 1)[1]
    return re.findall(r"^(MARKET_BUS_KEY=\S+ integrate run .+)$", section, re.MULTILINE)


def test_two_processes_share_the_tick_stream(tmp_path: Path, prefix: str) -> None:
    """The README's two commands: both analyzers consume market.tick from one consumer group."""
    first, second = readme_redis_commands()
    key = re.match(r"MARKET_BUS_KEY=(\S+)", first).group(1)  # type: ignore[union-attr]
    env = {"MARKET_BUS_KEY": key}
    common = [f"event_bus.redis.stream_prefix={prefix}", "~components.admin"]
    first_args = first.split("integrate run", 1)[1].split() + common
    second_args = second.split("integrate run", 1)[1].split() + common
    with run_app(*first_args, "profile=fast", f"components.storage.config.path={tmp_path / 'm.db'}",
                 cwd=REPO, env=env) as full:
        with run_app(*second_args, cwd=REPO, env=env) as worker:
            worker_line = worker.wait_for(lambda line: line["message"].startswith("analyzed "), 30)
            full_line = full.wait_for(lambda line: line["message"].startswith("analyzed "), 30)
            assert worker_line["component"] == full_line["component"] == "analyzer"
            assert not worker.events("component.running") or {
                e["component"] for e in worker.events("component.running")} == {"analyzer"}
