"""Two processes of the shipped app share work over Redis Streams, as the README shows."""

from __future__ import annotations

import re
import time
from pathlib import Path

from framework.testing import RunningApp, integrate, run_app

REPO = Path(__file__).resolve().parents[2]


def readme_redis_commands() -> list[str]:
    section = (REPO / "README.md").read_text().split("### Two processes over Redis", 1)[1].split("\n### ", 1)[0]
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


def signals(app: RunningApp, after: int) -> set[str]:
    """The symbols of the signals a process's analyzer logged from position ``after`` on."""
    return {line["message"].split()[2] for line in app.lines[after:] if line["message"].startswith("signal ")}


def test_each_symbols_signals_come_from_one_process(tmp_path: Path, prefix: str) -> None:
    """market.tick is keyed by symbol (conf/event_bus/redis.yaml): once the worker joins, each of
    three symbols is analyzed by one process only, the hand-over is logged by both, and
    `integrate status` shows the partitions the first process kept."""
    first, second = readme_redis_commands()
    key = re.match(r"MARKET_BUS_KEY=(\S+)", first).group(1)  # type: ignore[union-attr]
    env = {"MARKET_BUS_KEY": key}
    common = [f"event_bus.redis.stream_prefix={prefix}"]
    symbols = "components.feed.config.symbols=[BTCUSDT,ETHUSDT,SOLUSDT]"
    first_args = first.split("integrate run", 1)[1].split() + common + ["http.port=0"]
    second_args = second.split("integrate run", 1)[1].split() + common
    with run_app(*first_args, "profile=fast", symbols, f"components.storage.config.path={tmp_path / 'm.db'}",
                 cwd=REPO, env=env) as full:
        full.wait_for("analyzer.partitions_assigned", 30, after=0)  # maybe before app.started
        # Every symbol has a window before the worker joins, so the hand-over has windows to drop
        # (a start from the composition cache can bring the worker in before the first tick).
        full.wait_for(lambda line: line["message"].startswith("analyzed "), 30, after=0)
        with run_app(*second_args, cwd=REPO, env=env) as worker:
            worker.wait_for("analyzer.partitions_assigned", 30, after=0)
            revoked = full.wait_for("analyzer.partitions_revoked", 10)
            since_full, since_worker = full.mark(), worker.mark()
            deadline = time.monotonic() + 40
            while not (signals(full, since_full) and signals(worker, since_worker)):
                assert time.monotonic() < deadline, "both analyzers should signal for their own symbols"
                time.sleep(0.2)
            time.sleep(2)  # more signals: none may come from the other process
            mine, theirs = signals(full, since_full), signals(worker, since_worker)
            assert mine.isdisjoint(theirs) and mine | theirs <= {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
            dropped = set(revoked["symbols"])  # the windows the first process let go of
            assert dropped and dropped.isdisjoint(mine)
            url = full.wait_for("admin.started", 10, after=0)["url"]
            status = integrate("status", "--url", url, cwd=REPO)
            kept = [line for line in status.stdout.splitlines() if line.startswith("partitions of market.tick for analyzer:")]
            assert len(kept) == 1 and kept[0].count("(lag ") == 4, status.stdout  # 4 of 8 stayed here
