"""The registry's events on Redis Streams (event_bus=redis): each topic, its ids, and never a config value."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.registry.servers import Registry, running_registry
from tests.registry.wheels import manifest, published

SCHEMA = {
    "type": "object",
    "properties": {"api_key": {"type": "string", "writeOnly": True}, "mode": {"type": "string"}},
}


@pytest.fixture(scope="module")
def streams() -> Iterator[tuple[redis.Redis, str]]:
    """A Redis connection and a stream prefix of this module's own (its keys deleted after)."""
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        client.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis not reachable on 127.0.0.1:6379: {exc}")
        pytest.skip(f"Redis not reachable on 127.0.0.1:6379: {exc}")
    prefix = f"registry-test-{uuid.uuid4().hex[:10]}"
    yield client, prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def on_redis(
    tmp_path_factory: pytest.TempPathFactory, streams: tuple[redis.Redis, str]
) -> Iterator[Registry]:
    prefix = streams[1]
    with running_registry(
        tmp_path_factory.mktemp("registry-redis"),
        "sqlite",
        "event_bus=redis",
        f"event_bus.redis.stream_prefix={prefix}",
    ) as running:
        yield running


def _events(client: redis.Redis, prefix: str, topic: str) -> list[dict[str, Any]]:
    """The data of every event on ``<prefix>:<topic>``, oldest first."""
    found = []
    for _, fields in client.xrange(f"{prefix}:{topic}"):
        for value in fields.values():
            try:  # a signed entry: the HMAC (hex), then the envelope's JSON
                envelope = json.loads(value[value.index(b"{") :])
            except ValueError:
                continue
            if isinstance(envelope, dict) and "data" in envelope:
                found.append(envelope["data"])
    return found


def test_each_change_publishes_its_event_with_ids_version_and_company(
    on_redis: Registry, streams: tuple[redis.Redis, str], tmp_path: Path
) -> None:
    """register, approve, install, reconfigure, report health, uninstall, reject, delete: one event each."""
    client, prefix = streams
    name = f"evt-{uuid.uuid4().hex[:6]}"
    with on_redis.client("publisher", "vendor") as publisher, on_redis.client("admin", "root") as admin:
        record = published(publisher, admin, manifest(name, config_schema=SCHEMA))
        other = published(publisher, None, manifest(name, "2.0.0"))
        admin.patch(f"/modules/{other['id']}/status", json={"status": "rejected", "reason": "no"})
        publisher.put(f"/modules/{other['id']}", json={"visibility": "private"})
        publisher.delete(f"/modules/{other['id']}")
    with on_redis.client("member", "acme") as member:
        created = member.post(
            "/installations/",
            json={"module_id": record["id"], "config": {"api_key": "TOPSECRET-1", "mode": "MODE-VALUE"}},
        ).json()
        path = f"/installations/{created['id']}"
        member.put(path, json={"config": {"api_key": "TOPSECRET-2", "mode": "MODE-VALUE-2"}})
        member.post(f"{path}/health-check", json={"status": "unhealthy", "reason": "boom", "instance": "h1"})
        member.post(f"{path}/health-check", json={"status": "unhealthy", "reason": "boom", "instance": "h1"})
        member.delete(path)
    module = {"module_id": record["id"], "name": name, "version": "1.0.0", "company_id": "vendor"}
    assert _events(client, prefix, "module.registered")[0] == {**module, "status": "pending"}
    assert _events(client, prefix, "module.approved") == [{**module, "status": "approved"}]
    assert [e["module_id"] for e in _events(client, prefix, "module.rejected")] == [other["id"]]
    assert [e["module_id"] for e in _events(client, prefix, "module.updated")] == [other["id"]]
    assert [e["module_id"] for e in _events(client, prefix, "module.deleted")] == [other["id"]]
    installation = {
        "installation_id": created["id"],
        "module_id": record["id"],
        "module": name,
        "version": "1.0.0",
        "company_id": "acme",
    }
    for topic in ("installation.created", "installation.config_updated", "installation.removed"):
        assert _events(client, prefix, topic) == [installation], topic
    assert _events(client, prefix, "installation.health_changed") == [
        {**installation, "status": "unhealthy", "reason": "boom"}
    ]
    everything = json.dumps(
        [_events(client, prefix, key.decode().split(":", 1)[1]) for key in client.scan_iter(f"{prefix}:*.*")]
    )
    assert "TOPSECRET" not in everything and "MODE-VALUE" not in everything
