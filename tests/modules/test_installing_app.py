"""Apps that install from the registry: publish, approve, install for one company, and that
company's running app starts the module; another company's does not. Real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.health.apps import wait_for
from tests.modules.conftest import approved, call, install, installation, installing_app, reconfigure
from tests.registry.servers import Registry


def _components(admin: httpx.Client) -> dict[str, str]:
    return {row["name"]: row["state"] for row in admin.get("/components").json()}


def _hello(admin: httpx.Client) -> dict[str, object] | None:
    answer = admin.get("/modules/echo-module/hello")
    return dict(answer.json()) if answer.status_code == 200 else None


def test_an_installation_runs_in_its_companys_app_only(tmp_path: Path, registry: Registry, echo_wheel: tuple[str, bytes]) -> None:
    acme, acme_admin = installing_app(tmp_path, registry, "acme")
    beta, beta_admin = installing_app(tmp_path, registry, "beta")
    with acme, beta, acme_admin, beta_admin:
        module_id = approved(registry, echo_wheel)
        installation_id = install(registry, module_id, "acme", {"greeting": "hello from acme"})
        started = acme.wait_for("echo.started", timeout=20)
        assert started["greeting"] == "hello from acme"
        hello = wait_for(lambda: _hello(acme_admin), 10, "the module's endpoint")
        assert hello == {"greeting": "hello from acme", "repeat": 1}
        explained = acme_admin.get("/config/explain/components.echo_module.config.greeting").json()
        assert f"module registry: installation {installation_id} of echo-module 1.0.0 for acme" in str(explained)
        assert registry.url in str(explained)
        told = subprocess.run(
            [sys.executable, "-m", "framework", "explain", "components.echo_module.config.greeting",
             "--config-dir", "conf", "modules.enabled=true", f"modules.registry={registry.url}", "modules.company=acme"],
            cwd=tmp_path / "acme", env={**os.environ, "MARKET__MODULES__TOKEN": registry.token("member", "acme")},
            capture_output=True, text=True, timeout=60,
        )
        assert told.returncode == 0, told.stderr
        assert f"module registry: installation {installation_id} of echo-module 1.0.0 for acme ({registry.url})" in told.stdout
        health = wait_for(lambda: installation(registry, installation_id)["health"]["status"] == "healthy", 10,
                          "the app to report the installation healthy")
        assert health
        time.sleep(1.0)  # beta's app polls every 0.3 s: several rounds in which it must install nothing
        assert "echo_module" not in _components(beta_admin)
        assert beta_admin.get("/modules/echo-module/hello").status_code == 404
        assert not [line for line in beta.lines if line.get("event") == "echo.started"]


def test_a_config_update_reaches_the_component_and_uninstall_stops_it(
    tmp_path: Path, registry: Registry, echo_wheel: tuple[str, bytes]
) -> None:
    module_id = approved(registry, echo_wheel)
    installation_id = install(registry, module_id, "acme", {"greeting": "first"})
    acme, admin = installing_app(tmp_path, registry, "acme")
    with acme, admin:
        acme.wait_for("echo.started", timeout=20)
        reconfigure(registry, installation_id, {"greeting": "second", "repeat": 2})
        changed = acme.wait_for("echo.config_changed", timeout=20)
        assert changed["greeting"] == "second"
        assert wait_for(lambda: _hello(admin), 10, "the endpoint") == {"greeting": "second", "repeat": 2}
        removed = call(registry, "DELETE", f"/installations/{installation_id}", "member", "acme")
        assert removed.status_code == 200, removed.text
        acme.wait_for("echo.stopped", timeout=20)
        wait_for(lambda: admin.get("/modules/echo-module/hello").status_code == 404, 10, "the endpoint to go")
        assert "echo_module" not in _components(admin)
