"""A real module registry (``integrate run --config-dir module_registry/conf``, on SQLite in the
test's folder) and the example module's wheel, built by pip from ``examples/echo-module``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from framework.testing import RunningApp, run_app
from tests.health.apps import free_port
from tests.registry.servers import build_wheel

REPO = Path(__file__).resolve().parents[2]
SECRET = "registry-test-secret-0123456789abcdef"
ECHO_MANIFEST = (REPO / "examples" / "echo-module" / "module.yaml").read_text()


@pytest.fixture(scope="session")
def echo_wheel(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The example module's wheel, as its author builds it (from a copy: the source stays clean)."""
    return build_wheel(REPO / "examples" / "echo-module", tmp_path_factory.mktemp("echo-wheel")).read_bytes()


class Registry:
    """A running registry, and what its users do with it over HTTP."""

    def __init__(self, process: RunningApp, url: str, folder: Path) -> None:
        self.process, self.url, self.folder = process, url, folder
        self.http = httpx.Client(base_url=url, timeout=10)

    def token(self, role: str, company: str) -> str:
        claims = {"sub": f"{role}@{company}", "role": role, "company_id": company, "exp": 4_000_000_000}
        return jwt.encode(claims, SECRET, algorithm="HS256")

    def call(self, method: str, path: str, role: str, company: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(role, company)}"}
        return self.http.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    def publish(self, wheel: bytes, manifest: str = ECHO_MANIFEST, company: str = "publishers") -> int:
        files = {"package": ("echo_module-1.0.0-py3-none-any.whl", wheel, "application/octet-stream")}
        answer = self.call("POST", "/modules/", "publisher", company, data={"manifest": manifest}, files=files)
        assert answer.status_code == 201, answer.text
        module_id = int(answer.json()["id"])
        approved = self.call("PATCH", f"/modules/{module_id}/status", "admin", "ops",
                             json={"status": "approved", "reason": "reviewed"})
        assert approved.status_code == 200, approved.text
        return module_id

    def install(self, module_id: int, company: str, config: dict[str, Any]) -> int:
        answer = self.call("POST", "/installations/", "member", company, json={"module_id": module_id, "config": config})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["id"])

    def installation(self, installation_id: int, company: str) -> dict[str, Any]:
        answer = self.call("GET", f"/installations/{installation_id}", "member", company)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


def start_registry(folder: Path, *overrides: str, env: dict[str, str] | None = None) -> Registry:
    """A registry process in ``folder`` (its SQLite file and packages land there)."""
    folder.mkdir(parents=True, exist_ok=True)
    process = run_app(
        "--config-dir", str(REPO / "module_registry" / "conf"), "components.api.config.port=0", *overrides,
        cwd=folder, env={"REGISTRY_JWT_SECRET": SECRET, **(env or {})}, ready="registry.started", timeout=60,
    )
    return Registry(process, process.wait_for("registry.started", after=0)["url"], folder)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    running = start_registry(tmp_path / "registry")
    with running.process, running.http:
        yield running


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
