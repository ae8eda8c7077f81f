"""Canaries, dead instances, forged orders, drift, and Redis going away: each with real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
import redis

from tests.fleet.conftest import SIGNING_KEY, Fleet
from tests.fleet.test_rollout import INTERVAL, _rows
from tests.health.apps import free_port, wait_for
from tests.servers import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]
FAST_WINDOW = "components.analyzer.config.fast_window"


def _conflict(fleet: Fleet, instance: str) -> None:
    """Give ``instance`` local files on which fast_window=10 breaks the analyzer's check."""
    analyzer = fleet.folder(instance) / "conf/components/analyzer.yaml"
    analyzer.write_text(analyzer.read_text().replace("slow_window: 20", "slow_window: 8"))


def test_a_canary_that_nacks_stops_the_rollout_and_the_rest_never_see_it(fleet: Fleet) -> None:
    _conflict(fleet, "a")  # canaries are taken in name order: a first
    for name in ("a", "b", "c"):
        fleet.start(name)
    fleet.wait_members("a", "b", "c")
    assert fleet.cli("set", f"{INTERVAL}=0.3").returncode == 0  # v1, everywhere
    result = fleet.cli("set", f"{FAST_WINDOW}=10", "--canary", "1", "--bake", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert list(rows) == ["a"] and rows["a"][1] == "NACK"
    assert "canary failed: v2 stopped before the other instances" in result.stdout
    assert "rolled back: the overlay stays v1" in result.stdout
    history = json.loads(fleet.cli("history", "--format", "json").stdout)
    assert [(v["version"], v["current"]) for v in history] == [(1, True), (2, False)]
    assert history[1]["abandoned"] == "canary failed: v2 stopped before the other instances"
    time.sleep(1.0)  # five heartbeats: nobody catches up to v2
    members = fleet.members()
    assert {n: m["overlay_version"] for n, m in members.items()} == {"a": 1, "b": 1, "c": 1}


def test_a_canary_that_acks_and_stays_healthy_through_the_bake_goes_to_everyone(fleet: Fleet) -> None:
    for name in ("a", "b"):
        fleet.start(name)
    fleet.wait_members("a", "b")
    result = fleet.cli("set", f"{INTERVAL}=0.3", "--canary", "1", "--bake", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "canary a ACKed v1; baking 1 s" in result.stdout
    assert {n: r[1] for n, r in _rows(result.stdout).items()} == {"a": "ACK", "b": "ACK"}
    assert json.loads(fleet.cli("history", "--format", "json").stdout)[0]["current"] is True


def test_a_sigkilled_instance_is_no_answer_never_a_hang_and_drops_out_after_its_ttl(fleet: Fleet) -> None:
    for name in ("a", "b"):
        fleet.start(name, MARKET__FLEET__TTL="20")  # still listed when the rollout begins, however slow
    fleet.wait_members("a", "b")
    fleet.kill("b")
    started = time.monotonic()
    result = fleet.cli("set", f"{INTERVAL}=0.3", "--timeout", "2")
    assert time.monotonic() - started < 30
    assert result.returncode == 1, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert rows["a"][1] == "ACK"
    assert rows["b"][1:3] == ["NO", "ANSWER"]
    fleet.wait_members("a", timeout=40)  # b's TTL ran out
    assert [row["instance"] for row in fleet.status()["instances"]] == ["a"]


def test_a_forged_or_unsigned_order_is_ignored_and_dead_lettered(fleet: Fleet) -> None:
    app = fleet.start("a")
    fleet.wait_members("a")
    orders, dead = f"fleet:{{{fleet.name}}}:orders", f"fleet:{{{fleet.name}}}:dead"
    order = {"type": "fleet.order", "data": {"rollout": "x", "op": "apply", "version": 1, "targets": []}}
    client = redis.Redis.from_url(fleet.url)
    try:
        client.xadd(orders, {"m": json.dumps(order)})  # unsigned
        client.xadd(orders, {"m": "0" * 64 + json.dumps(order)})  # a made-up signature
        entries = wait_for(lambda: len(e := client.xrange(dead)) == 2 and e, 10, "two dead letters")
    finally:
        client.close()
    assert [fields[b"reason"] for _, fields in entries] == [b"unsigned", b"bad_signature"]
    assert len(app.events("fleet.dead_letter")) == 2
    assert not app.events("config.reloaded")
    assert fleet.cli("set", f"{INTERVAL}=0.3").returncode == 0  # the real thing still works
    client = redis.Redis.from_url(fleet.url)
    try:
        [(_, genuine)] = client.xrevrange(orders, count=1)
        client.xadd(orders, genuine)  # a genuine order, added again
        replayed = wait_for(lambda: len(e := client.xrange(dead)) == 3 and e[-1][1], 10, "a third dead letter")
    finally:
        client.close()
    assert replayed[b"reason"] == b"replayed"
    assert len(app.events("config.reloaded")) == 1


def test_an_instance_whose_files_differ_is_marked_as_drift(fleet: Fleet) -> None:
    risk = fleet.folder("c") / "conf/components/risk.yaml"
    risk.write_text(risk.read_text().replace("max_position: 3", "max_position: 4"))
    for name in ("a", "b", "c"):
        fleet.start(name, f"http.port={free_port()}")  # a launch argument: not drift
    fleet.wait_members("a", "b", "c")
    status = fleet.status()
    assert {row["instance"]: row["drift"] for row in status["instances"]} == {"a": False, "b": False, "c": True}
    text = fleet.cli("status").stdout
    assert "1 drifted" in text and "DRIFT" in text.splitlines()[-1]


def test_get_fleet_on_the_admin_api_lists_the_instances(fleet: Fleet) -> None:
    port = free_port()
    fleet.start("a", "components.admin.enabled=true", f"http.port={port}")
    fleet.start("b")
    fleet.wait_members("a", "b")
    view = httpx.get(f"http://127.0.0.1:{port}/fleet", timeout=10).json()
    assert (view["fleet"], view["instance"], view["overlay_version"]) == (fleet.name, "a", 0)
    assert [(row["instance"], row["admin_url"]) for row in view["instances"]] == [
        ("a", f"http://127.0.0.1:{port}"), ("b", None)]
    assert SIGNING_KEY not in json.dumps(view)


def test_without_redis_a_required_fleet_refuses_to_start_with_a_clear_error(fleet: Fleet) -> None:
    folder = fleet.folder("a")
    env = fleet.env(MARKET__FLEET__URL=f"redis://127.0.0.1:{free_port()}/0")
    result = subprocess.run([sys.executable, "-m", "framework", "run"], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unreachable" in result.stderr and "fleet.required is true" in result.stderr
    assert "set fleet.required=false" in result.stderr and "Traceback" not in result.stderr


def test_redis_gone_mid_life_instances_keep_their_config_and_catch_up_when_it_returns(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    redis_server.kill()
    redis_server.persist = True  # what it stored survives its restarts
    redis_server.start()
    fleet.url = redis_server.url
    app = fleet.start("a", MARKET__FLEET__REQUIRED="false")
    fleet.wait_members("a")
    assert fleet.cli("set", f"{INTERVAL}=0.3").returncode == 0
    redis_server.kill()
    failed = fleet.cli("set", f"{INTERVAL}=0.5", "--timeout", "2")
    assert failed.returncode == 1
    assert "could not complete" in failed.stderr and "Traceback" not in failed.stderr
    app.wait_for("fleet.unreachable", 10)
    assert app.process.poll() is None
    redis_server.start()
    app.wait_for("fleet.reachable", 20)
    result = fleet.cli("set", f"{INTERVAL}=0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _rows(result.stdout)["a"][1:3] == ["ACK", "v2"]


def test_an_instance_started_without_redis_runs_degraded_and_catches_up(fleet: Fleet, redis_server: RedisServer) -> None:
    redis_server.kill()
    redis_server.persist = True
    redis_server.start()
    fleet.url = redis_server.url
    fleet.start("a")
    fleet.wait_members("a")
    assert fleet.cli("set", f"{INTERVAL}=0.3").returncode == 0
    redis_server.kill()
    late = fleet.start("late", MARKET__FLEET__REQUIRED="false")
    assert late.events("fleet.degraded")  # logged before app.started
    redis_server.start()
    caught = late.wait_for("fleet.caught_up", 20)
    assert caught["version"] == 1
    members = fleet.wait_members("a", "late")
    assert members["late"]["overlay_version"] == 1 and members["late"]["degraded"] is None


def test_redis_killed_mid_canary_the_set_reports_it_and_the_canary_returns_once_redis_is_back(
    fleet: Fleet, redis_server: RedisServer
) -> None:
    redis_server.kill()
    redis_server.persist = True
    redis_server.start()
    fleet.url = redis_server.url
    for name in ("a", "b"):
        fleet.start(name, MARKET__FLEET__REQUIRED="false")
    fleet.wait_members("a", "b")
    rollout = subprocess.Popen(
        [sys.executable, "-m", "framework", "fleet", "set", f"{INTERVAL}=0.3", "--canary", "1", "--bake", "30"],
        cwd=fleet.folder("controller"), env=fleet.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: fleet.members().get("a", {}).get("overlay_version") == 1, 30, "the canary a on v1")
        redis_server.kill()
        out, err = rollout.communicate(timeout=30)
    finally:
        rollout.kill()
    assert rollout.returncode == 1, out + err
    assert "could not complete" in err and "Traceback" not in err
    assert all(app.process.poll() is None for app in fleet.instances.values())
    redis_server.start()
    # The pin of the canary was not renewed: it returns to the current version (none yet).
    wait_for(lambda: fleet.members().get("a", {}).get("overlay_version") == 0, 20, "the canary back on v0")
    assert fleet.members()["b"]["overlay_version"] == 0
    result = fleet.cli("set", f"{INTERVAL}=0.4")  # the lock of the dead rollout expired
    assert result.returncode == 0, result.stdout + result.stderr


PROBE = '''
"""A component whose health its config says: what a bad setting looks like once applied."""


class Probe:
    config_schema = {"healthy": {"type": "boolean", "default": True, "reload": "live"}}

    def __init__(self, config):
        self.healthy = config["healthy"]

    def on_config_change(self, config, changed):
        self.healthy = config["healthy"]

    async def start(self):
        pass

    async def stop(self):
        pass

    def health(self):
        return {"status": "healthy" if self.healthy else "unhealthy", "reason": "probe.healthy is false"}
'''


def test_a_canary_that_turns_unhealthy_during_the_bake_is_rolled_back(fleet: Fleet) -> None:
    for name in ("a", "b", "controller"):
        folder = fleet.folder(name)
        (folder / "probes").mkdir()
        (folder / "probes/__init__.py").write_text(PROBE)  # `python -m framework` imports from its folder
        (folder / "conf/components/probe.yaml").write_text("# @package components.probe\nclass: probes.Probe\n")
        config = folder / "conf/config.yaml"
        text = config.read_text().replace("  - components/admin\n", "  - components/admin\n  - components/probe\n")
        config.write_text(text.replace("allowed_packages: [components]", "allowed_packages: [components, probes]"))
    for name in ("a", "b"):
        fleet.start(name, MARKET__HEALTH__INTERVAL="0.2")
    fleet.wait_members("a", "b")
    wait_for(lambda: all(m["health"] == "healthy" for m in fleet.members().values()), 10, "both healthy")
    result = fleet.cli("set", "components.probe.config.healthy=false", "--canary", "1", "--bake", "5")
    assert result.returncode == 1, result.stdout + result.stderr
    assert _rows(result.stdout)["a"][1] == "ACK"  # it applied...
    assert "canary unhealthy during the bake: a is unhealthy (was healthy)" in result.stdout  # ...then failed
    assert "rolled back: the overlay stays v0; a returned to it" in result.stdout
    members = wait_for(lambda: (m := fleet.members())["a"]["health"] == "healthy" and m, 10, "a healthy again")
    assert {n: m["overlay_version"] for n, m in members.items()} == {"a": 0, "b": 0}
