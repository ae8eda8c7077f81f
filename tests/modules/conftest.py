"""A company's app installing from a real module registry (``tests.registry.servers``: an
``integrate run`` of ``module_registry/conf`` on SQLite in the test's folder, one per test, as
each publishes echo-module 1.0.0) and the example module's wheel, built by pip."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from framework.testing import RunningApp, run_app
from tests.health.apps import free_port
from tests.registry.servers import Registry, running_registry
from tests.registry.wheels import publish

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "examples" / "echo-module"
ECHO_MANIFEST = (ECHO / "module.yaml").read_text()


@pytest.fixture(scope="session")
def echo_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    """The example module's wheel as its author builds it (from a copy: the source stays clean)."""
    into = tmp_path_factory.mktemp("echo-wheel")
    shutil.copytree(ECHO, into / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(into), str(into / "src")]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    (built,) = into.glob("echo_module-1.0.0-*.whl")
    return built.name, built.read_bytes()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with running_registry(tmp_path / "registry", "sqlite") as running:
        yield running


def call(registry: Registry, method: str, path: str, role: str, company: str, **kwargs: Any) -> httpx.Response:
    with registry.client(role, company) as client:
        return client.request(method, path, **kwargs)


def approved(registry: Registry, package: tuple[str, bytes], manifest: str = ECHO_MANIFEST) -> int:
    """Publish a module with its wheel, have an admin approve it; its id."""
    with registry.client("publisher", "publishers") as publisher:
        answer = publish(publisher, manifest, package)
    assert answer.status_code == 201, answer.text
    module_id = int(answer.json()["id"])
    decided = call(registry, "PATCH", f"/modules/{module_id}/status", "admin", "ops",
                   json={"status": "approved", "reason": "reviewed"})
    assert decided.status_code == 200, decided.text
    return module_id


def install(registry: Registry, module_id: int, company: str, config: dict[str, Any]) -> int:
    answer = call(registry, "POST", "/installations/", "member", company, json={"module_id": module_id, "config": config})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def reconfigure(registry: Registry, installation_id: int, config: dict[str, Any], company: str = "acme") -> None:
    """The company's member replaces the installation's config; the registry accepts it."""
    answer = call(registry, "PUT", f"/installations/{installation_id}", "member", company, json={"config": config})
    assert answer.status_code == 200, answer.text


def installation(registry: Registry, installation_id: int, company: str = "acme") -> dict[str, Any]:
    answer = call(registry, "GET", f"/installations/{installation_id}", "member", company)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def installing_app(root: Path, registry: Registry, company: str, *overrides: str) -> tuple[RunningApp, httpx.Client]:
    """The shipped market app, run by ``company`` with its ``modules`` section on ``registry``,
    and a client of its admin API."""
    folder = root / company
    if not folder.exists():
        shutil.copytree(REPO / "conf", folder / "conf")
    port = free_port()
    app = run_app(
        "--config-dir", "conf", "modules.enabled=true", f"modules.registry={registry.url}",
        f"modules.company={company}", "modules.poll=0.3", f"http.port={port}", *overrides,
        cwd=folder, env={"MARKET__MODULES__TOKEN": registry.token("member", company)}, timeout=60,
    )
    return app, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
