"""A fixture app whose health the tests steer through files, run by `integrate run`, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from framework.testing import write_tree

T = TypeVar("T")

FIXTURE_MODULE = '''
import asyncio
import hashlib
import pathlib


class FileHealth:
    """Its health is whatever its file says: healthy, degraded, unhealthy, raise, hang or nostart."""

    version = "2.1.0"
    config_schema = {"path": {"type": "string", "default": "health.txt"}}

    def __init__(self, config, logger, name):
        self.path, self.log, self.name = pathlib.Path(config["path"]), logger, name
        self.starts = 0

    def mode(self):
        try:
            return self.path.read_text().strip() or "healthy"
        except FileNotFoundError:
            return "healthy"

    async def start(self):
        self.starts += 1
        if self.mode() == "nostart":
            raise RuntimeError(f"{self.name} cannot start: its file says nostart")
        self.log.bind(event="fixture.started", starts=self.starts).info(f"{self.name} started")

    async def stop(self):
        pass

    async def health(self):
        mode = self.mode()
        if mode == "raise":
            raise RuntimeError("probe exploded")
        if mode == "hang":
            await asyncio.sleep(3600)
        return {"status": "unhealthy" if mode == "nostart" else mode, "mode": mode}


class Dependent:
    """Depends on `source`; has no health() of its own."""

    version = "1.0.0"

    def __init__(self, source):
        self.source = source

    async def start(self):
        pass

    async def stop(self):
        pass


class Vault:
    """Holds a secret and says it everywhere (event, log lines, health), so masking is tested everywhere."""

    version = "1.0.0"
    publishes = ("vault.opened",)
    config_schema = {"password": {"type": "string", "secret": True, "default": "default-password-1"}}

    def __init__(self, config, bus, logger):
        self.config, self.bus, self.log = config, bus, logger

    async def start(self):
        password = self.config["password"]
        await self.bus.publish("vault.opened", {"password": password, "note": "leak?"})
        self.log.bind(event="vault.opened", password=password, tries=[{"with": password}]).info(
            f"vault opened with {password} ({password!r})")
        try:
            raise PermissionError(f"vault refused {password!r}")
        except PermissionError:
            self.log.exception(f"vault hiccup for {password}")

    async def stop(self):
        pass

    def health(self):
        password = self.config["password"]
        digest = hashlib.sha256(password.encode()).hexdigest()[:12]  # proves which value it holds
        return "healthy", {"password_length": len(password), "digest": digest, "last": f"denied {password!r}"}
'''

CONFIG = """
    defaults:
      - _self_
    app:
      name: health-fixture
      allowed_packages: [fx_health]
      stop_timeout: 2
      watch:
        enabled: false
    health:
      interval: 0.1
      timeout: 0.3
      failure_threshold: 2
      max_restarts: 2
      backoff: 0.3
      max_backoff: 2
    components:
      source:
        class: fx_health.FileHealth
        config:
          path: health.txt
      sink:
        class: fx_health.Dependent
        depends_on: [source]
      admin:
        class: admin
    """


def make_project(root: Path) -> Path:
    """A project dir: module fx_health and conf/config.yaml with source -> sink and the admin API."""
    write_tree(root, {"fx_health.py": FIXTURE_MODULE, "conf/config.yaml": CONFIG})
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningApp:
    """A running `integrate run` process and a client for its admin API."""

    def __init__(self, root: Path, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.root, self.process, self.url, self.log = root, process, url, log
        self.client = httpx.Client(base_url=url, timeout=10)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, **kwargs)

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e.get("event") == event]

    def component(self, name: str) -> dict[str, Any]:
        rows = {row["name"]: row for row in self.get("/components").json()}
        return rows[name]

    def details(self, name: str) -> dict[str, Any]:
        """The details of a component's last health check ({} before the first)."""
        health = self.component(name)["health"] or {}
        return dict(health.get("details") or {})


def wait_for(check: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll until ``check()`` returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(0.05)


@contextmanager
def run_app(root: Path, *overrides: str, env: Mapping[str, str] | None = None) -> Iterator[RunningApp]:
    """Start the app with the admin API on a free port; stop it with SIGTERM afterwards."""
    port = free_port()
    log = root / f"app-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "framework",
                "run",
                "--log-format",
                "json",
                f"http.port={port}",
                *overrides,
            ],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    app = RunningApp(root, process, f"http://127.0.0.1:{port}", log)

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            return app.get("/health/live").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, timeout=20, what="the admin API to answer")
        yield app
    finally:
        app.client.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
