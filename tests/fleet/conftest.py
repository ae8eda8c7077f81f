"""A fleet of shipped-app processes on a real Redis, driven by `integrate fleet` as a user runs it.

Each test gets a fleet name of its own (its keys share the hash tag ``{name}``, deleted at the
end) and runs instances as `integrate run` subprocesses, each in a folder with its own copy
of the shipped `conf/`, so a test can give one instance local files the others do not have.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from framework.testing import RunningApp, run_app
from tests.events.conftest import redis_url  # noqa: F401  (a fixture)
from tests.health.apps import wait_for
from tests.servers import redis_server  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[2]
SIGNING_KEY = "fleet-signing-key-0123456789"


class Fleet:
    """The instances of one fleet, and the `integrate fleet` command pointed at it."""

    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url
        self.name = f"t{uuid.uuid4().hex[:10]}"
        self.instances: dict[str, RunningApp] = {}
        self.cluster = False  # the URL names a node of a Redis Cluster
        self._copying = threading.Lock()  # two `fleet set` threads may ask for one folder

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "MARKET__FLEET__ENABLED": "true",
            "MARKET__FLEET__NAME": self.name,
            "MARKET__FLEET__URL": self.url,
            "MARKET__FLEET__SIGNING_KEY": SIGNING_KEY,
            "MARKET__FLEET__HEARTBEAT": "0.2",
            "MARKET__FLEET__TTL": "4",  # ample for a heartbeat of 0.2 s on a loaded machine
            **extra,
        }

    def folder(self, instance: str) -> Path:
        """The instance's folder, with its own copy of the shipped conf/ (made on first use)."""
        folder = self.root / instance
        with self._copying:
            if not folder.exists():
                shutil.copytree(REPO / "conf", folder / "conf")
                shutil.copytree(REPO / "components", folder / "components")
        return folder

    def start(self, instance: str, *overrides: str, ready: str = "app.started", **env: str) -> RunningApp:
        folder = self.folder(instance)
        args = ["components.admin.enabled=false", *overrides]  # one admin port per machine: none here
        app = run_app(*args, cwd=folder, env=self.env(MARKET__FLEET__INSTANCE=instance, **env), ready=ready)
        self.instances[instance] = app
        return app

    def kill(self, instance: str) -> None:
        app = self.instances.pop(instance)
        app.process.send_signal(signal.SIGKILL)
        app.stop()  # reaps it and closes its stderr

    def cli(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        """`integrate fleet ARGS` run from a folder of its own (the controller's conf/)."""
        return subprocess.run(
            [sys.executable, "-m", "framework", "fleet", *args], cwd=self.folder("controller"),
            env=self.env(**env), capture_output=True, text=True, timeout=timeout,
        )

    def status(self) -> dict[str, Any]:
        result = self.cli("status", "--format", "json")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def members(self) -> dict[str, dict[str, Any]]:
        """The live members as the store holds them (read directly: quicker than the CLI)."""
        client = self.client()
        try:
            names = [n.decode() for n in client.zrange(f"fleet:{{{self.name}}}:members", 0, -1)]
            texts = [client.get(f"fleet:{{{self.name}}}:member:{n}") for n in names]
        finally:
            client.close()
        return {n: json.loads(t) for n, t in zip(names, texts, strict=True) if t}

    def wait_members(self, *names: str, timeout: float = 20) -> dict[str, dict[str, Any]]:
        def exactly() -> dict[str, dict[str, Any]] | None:
            members = self.members()
            return members if set(members) == set(names) else None

        return wait_for(exactly, timeout, f"fleet members to be exactly {sorted(names)}")

    def client(self) -> redis.Redis | RedisCluster:
        options = {"socket_connect_timeout": 1}
        return RedisCluster.from_url(self.url, **options) if self.cluster else redis.Redis.from_url(self.url, **options)

    def close(self) -> None:
        for app in self.instances.values():
            app.stop()
        self.instances.clear()
        try:
            client = self.client()
            keys = list(client.scan_iter(match=f"fleet:{{{self.name}}}:*", target_nodes=RedisCluster.PRIMARIES)
                        if self.cluster else client.scan_iter(match=f"fleet:{{{self.name}}}:*"))
            for key in keys:
                client.delete(key)
            client.close()
        except (redis.RedisError, OSError):
            pass  # a test's own server, gone already


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str) -> Iterator[Fleet]:  # noqa: F811
    group = Fleet(tmp_path, redis_url)
    try:
        yield group
    finally:
        group.close()
