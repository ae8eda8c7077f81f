"""One `fleet set`, many instances: each ACKs or NACKs, with its reasons; bad values never land.

Real processes throughout: shipped-app instances (`integrate run`) and the `integrate fleet`
command, on the Redis at 127.0.0.1:6379, one fleet name per test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fleet.conftest import Fleet
from tests.health.apps import free_port, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]
INTERVAL = "components.feed.config.interval"


def _rows(output: str) -> dict[str, list[str]]:
    """The per-instance table of `fleet set`: instance -> its columns."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("INSTANCE"))
    rows = {}
    for line in lines[start + 1 :]:
        if not line or line.startswith(("OK:", "FAILED:", "canary", "rolled back")):
            break
        cells = line.split(None, 5)
        rows[cells[0]] = cells
    return rows


def test_one_set_reaches_every_instance_which_acks_and_explain_names_the_overlay(fleet: Fleet) -> None:
    for name in ("a", "b", "c"):
        fleet.start(name)
    fleet.wait_members("a", "b", "c")
    result = fleet.cli("set", f"{INTERVAL}=0.3")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert {n: r[1] for n, r in rows.items()} == {"a": "ACK", "b": "ACK", "c": "ACK"}
    assert all(r[2] == "v1" for r in rows.values())
    assert "reconfigure feed" in rows["a"][5]
    assert result.stdout.rstrip().endswith("OK: 3/3 instance(s) acknowledged")
    app = fleet.instances["b"]
    applied = app.wait_for("config.reloaded", 10)
    assert applied["trigger"] == "fleet v1"
    explained = subprocess.run(
        [sys.executable, "-m", "framework", "explain", INTERVAL], cwd=fleet.folder("b"),
        env=fleet.env(), capture_output=True, text=True, timeout=60,
    )
    assert explained.returncode == 0, explained.stderr
    assert "set by:  fleet overlay (fleet overlay v1 (set 20" in explained.stdout
    assert "overrode: 0.2 from file (conf/profile/default.yaml:5)" in explained.stdout
    status = fleet.status()
    assert status["overlay_version"] == 1
    assert {row["instance"]: row["overlay_version"] for row in status["instances"]} == {"a": 1, "b": 1, "c": 1}
    assert not any(row["drift"] for row in status["instances"])
    assert all(row["override_keys"] == ["components.admin.enabled"] for row in status["instances"])


@pytest.mark.parametrize(
    ("item", "words"),
    [
        (f"{INTERVAL}=fast", "components.feed.config.interval: must be of type number (got 'fast') [fleet overlay (proposed)]"),
        ("components.feed.config.intervall=1", "not a key of the config; did you mean 'components.feed.config.interval'?"),
        ("app.name=other", "fleet overlay key 'app.name': refused, its schema says reload: never"),
        ("fleet.ttl=3", "fleet overlay key 'fleet.ttl': refused, the fleet section says where the overlay comes from"),
    ],
)
def test_a_bad_value_is_refused_before_anything_is_written(fleet: Fleet, item: str, words: str) -> None:
    result = fleet.cli("set", item)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    history = fleet.cli("history", "--format", "json")
    assert history.returncode == 0 and json.loads(history.stdout) == []


def test_an_instance_whose_files_conflict_nacks_keeps_its_config_and_is_named(fleet: Fleet) -> None:
    analyzer = fleet.folder("c") / "conf/components/analyzer.yaml"
    analyzer.write_text(analyzer.read_text().replace("slow_window: 20", "slow_window: 8"))
    port = free_port()
    for name in ("a", "b"):
        fleet.start(name)
    fleet.start("c", "components.admin.enabled=true", f"http.port={port}", "health.interval=0.2")
    fleet.wait_members("a", "b", "c")
    result = fleet.cli("set", "components.analyzer.config.fast_window=10")
    assert result.returncode == 1, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert (rows["a"][1], rows["b"][1], rows["c"][1]) == ("ACK", "ACK", "NACK")
    assert rows["c"][2] == "v0"  # still on its previous config
    assert "components.analyzer.config.fast_window: must be smaller than slow_window (8) (got 10)" in rows["c"][5]
    assert "[fleet overlay v1 (set 20" in rows["c"][5]
    assert "FAILED: 2/3 instance(s) acknowledged" in result.stdout
    rejected = fleet.instances["c"].wait_for("config.rejected", 10)
    assert rejected["version"] == 1  # the config it kept
    members = fleet.members()
    assert members["c"]["overlay_version"] == 0 and members["c"]["rejected_version"] == 1
    assert members["c"]["health"] == "degraded" and "v1 rejected here" in members["c"]["degraded"]
    health = wait_for(lambda: (h := httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json())["status"] == "degraded" and h,
                      10, "c's own health to say degraded")
    assert "fleet overlay v1 rejected here" in health["checks"]["fleet"]["details"]["reason"]
    assert health["ready"] is True  # it serves, on its previous config


def test_a_dry_run_shows_each_plan_and_changes_nothing(fleet: Fleet) -> None:
    for name in ("a", "b"):
        fleet.start(name)
    fleet.wait_members("a", "b")
    result = fleet.cli("set", f"{INTERVAL}=0.4", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("dry run: nothing written")
    rows = _rows(result.stdout)
    assert {n: (r[1], r[5]) for n, r in rows.items()} == {"a": ("PLANNED", "reconfigure feed"), "b": ("PLANNED", "reconfigure feed")}
    assert json.loads(fleet.cli("history", "--format", "json").stdout) == []
    assert all(m["config_version"] == 1 for m in fleet.members().values())


def test_concurrent_sets_are_serialized_and_the_later_one_wins(fleet: Fleet) -> None:
    fleet.start("a")
    fleet.wait_members("a")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(fleet.cli, "set", f"{INTERVAL}=0.3", "components.risk.config.max_position=7")
        second = pool.submit(fleet.cli, "set", f"{INTERVAL}=0.6")
        results = [first.result(), second.result()]
    assert [r.returncode for r in results] == [0, 0], [r.stdout + r.stderr for r in results]
    history = json.loads(fleet.cli("history", "--format", "json").stdout)
    assert [v["version"] for v in history] == [1, 2]
    # Whichever came second built on the first's version: no change was lost or interleaved.
    assert history[1]["values"]["components.risk.config.max_position"] == 7
    assert {history[0]["values"][INTERVAL], history[1]["values"][INTERVAL]} == {0.3, 0.6}
    wait_for(lambda: fleet.members()["a"]["overlay_version"] == 2, 10, "instance a on v2")


def test_history_and_rollback_make_an_earlier_version_current_again(fleet: Fleet) -> None:
    fleet.start("a")
    fleet.wait_members("a")
    assert fleet.cli("set", f"{INTERVAL}=0.3").returncode == 0
    assert fleet.cli("set", f"{INTERVAL}=0.5", "components.risk.config.max_position=7").returncode == 0
    assert fleet.cli("unset", "components.risk.config.max_position").returncode == 0
    back = fleet.cli("rollback", "1")
    assert back.returncode == 0, back.stdout + back.stderr
    assert "overlay v4 written" in back.stdout
    history = fleet.cli("history")
    lines = history.stdout.splitlines()
    assert lines[0].startswith("v1 ") and "set: +components.feed.config.interval=0.3" in lines[0]
    assert "set: components.feed.config.interval: 0.3 -> 0.5, +components.risk.config.max_position=7" in lines[1]
    assert "unset: -components.risk.config.max_position" in lines[2]
    assert lines[3].startswith("v4 (current)") and "rollback to v1: components.feed.config.interval: 0.5 -> 0.3" in lines[3]
    wait_for(lambda: fleet.members()["a"]["overlay_version"] == 4, 10, "instance a on v4")
    missing = fleet.cli("unset", "components.risk.config.max_position")
    assert missing.returncode == 2 and "not in the overlay" in missing.stderr


def test_a_secret_in_the_overlay_is_stored_as_given_and_masked_wherever_it_is_shown(fleet: Fleet) -> None:
    secret = "s3cr3t-<script>-token-value"
    fleet.start("a")
    fleet.wait_members("a")
    result = fleet.cli("set", f"http.token='{secret}'")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = [result.stdout, result.stderr]
    for args in (("history",), ("history", "--format", "json"), ("status", "--format", "json")):
        out = fleet.cli(*args)
        shown += [out.stdout, out.stderr]
    assert all(secret not in text for text in shown)
    assert "+http.token=\"***\"" in fleet.cli("history").stdout
    assert all(secret not in line for line in fleet.instances["a"].text)
