"""The fleet on a real Redis Cluster (3 masters, 3 replicas, started by the test session): its
keys share the hash tag ``{<fleet>}``, so its scripts and streams live in one slot."""

from __future__ import annotations

import json

import pytest

from tests.fleet.conftest import Fleet
from tests.fleet.test_rollout import INTERVAL, _rows

pytestmark = [pytest.mark.redis_cluster, pytest.mark.timeout(120)]


@pytest.fixture
def cluster_fleet(fleet: Fleet, redis_cluster: str) -> Fleet:
    fleet.url, fleet.cluster = redis_cluster, True
    return fleet


def test_a_rollout_on_a_cluster_acks_and_a_killed_instance_is_no_answer(cluster_fleet: Fleet) -> None:
    fleet = cluster_fleet
    env = {"MARKET__FLEET__CLUSTER": "true", "MARKET__FLEET__TTL": "20"}
    for name in ("a", "b"):
        fleet.start(name, **env)
    fleet.wait_members("a", "b")
    result = fleet.cli("set", f"{INTERVAL}=0.3", "--canary", "1", "--bake", "0.5", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {n: r[1] for n, r in _rows(result.stdout).items()} == {"a": "ACK", "b": "ACK"}
    fleet.kill("b")
    result = fleet.cli("set", f"{INTERVAL}=0.4", "--timeout", "2", **env)
    assert result.returncode == 1, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert rows["a"][1:3] == ["ACK", "v2"] and rows["b"][1:3] == ["NO", "ANSWER"]
    history = fleet.cli("history", "--format", "json", **env)
    assert history.returncode == 0 and [v["version"] for v in json.loads(history.stdout)] == [1, 2]

