"""A module the app cannot run is refused like a bad edit: the last good set keeps running, and
the installation's health in the registry says why. Real registry, real app processes."""

from __future__ import annotations

from pathlib import Path

from framework import sha256_of
from tests.health.apps import wait_for
from tests.modules.conftest import (
    ECHO_MANIFEST,
    approved,
    install,
    installation,
    installing_app,
    reconfigure,
)
from tests.registry.servers import Registry
from tests.registry.wheels import wheel

BOOM = '''
class Boom:
    version = "1.0.0"

    def __init__(self, config):
        self.config = config

    async def start(self):
        raise RuntimeError("boom: the module cannot start here")

    async def stop(self):
        pass
'''
BOOM_MANIFEST = """
name: boom-module
version: 1.0.0
description: Fails to start
author: tests
entry_points: {main: "boom_module.component:Boom"}
config_schema: {type: object}
"""


def _unhealthy(registry: Registry, installation_id: int) -> str | None:
    health = installation(registry, installation_id)["health"]
    return str(health["reason"]) if health["status"] == "unhealthy" else None


def test_a_package_whose_hash_differs_from_the_record_is_refused(
    tmp_path: Path, registry: Registry, echo_wheel: tuple[str, bytes]
) -> None:
    module_id = approved(registry, echo_wheel)
    stored = registry.workdir / "var" / "packages" / f"{sha256_of(echo_wheel[1])}.whl"
    stored.write_bytes(echo_wheel[1] + b"tampered")  # the bytes served are no longer the recorded ones
    installation_id = install(registry, module_id, "acme", {"greeting": "hi"})
    acme, admin = installing_app(tmp_path, registry, "acme")
    with acme, admin:
        refused = acme.wait_for("modules.refused", timeout=20)
        assert "hash-mismatch" in refused["message"]
        reason = wait_for(lambda: _unhealthy(registry, installation_id), 10, "the registry to hear why")
        assert "hash-mismatch" in reason and "differs from the registry's record" in reason
        assert "echo_module" not in {row["name"] for row in admin.get("/components").json()}
        assert not list((tmp_path / "acme" / "var" / "modules").glob("echo*"))  # nothing unpacked


def test_a_config_the_class_refuses_is_rejected_until_it_changes(
    tmp_path: Path, registry: Registry, echo_wheel: tuple[str, bytes]
) -> None:
    looser = ECHO_MANIFEST.replace(", maximum: 10", "")  # the registry's schema admits repeat: 50
    module_id = approved(registry, echo_wheel, looser)
    installation_id = install(registry, module_id, "acme", {"greeting": "hi", "repeat": 50})
    acme, admin = installing_app(tmp_path, registry, "acme")
    with acme, admin:
        acme.wait_for("config.rejected", timeout=20)
        reason = wait_for(lambda: _unhealthy(registry, installation_id), 10, "the registry to hear why")
        assert "components.echo_module.config.repeat" in reason
        wait_for(lambda: admin.get("/health").json()["checks"]["modules"]["status"] == "degraded", 15, "degraded")
        reconfigure(registry, installation_id, {"greeting": "hi", "repeat": 3})
        assert acme.wait_for("echo.started", timeout=20)["greeting"] == "hi"
        wait_for(lambda: installation(registry, installation_id)["health"]["status"] == "healthy", 10, "healthy")


def test_a_module_that_fails_to_start_leaves_the_running_ones_alone(
    tmp_path: Path, registry: Registry, echo_wheel: tuple[str, bytes]
) -> None:
    echo = install(registry, approved(registry, echo_wheel), "acme", {"greeting": "still here"})
    acme, admin = installing_app(tmp_path, registry, "acme")
    with acme, admin:
        acme.wait_for("echo.started", timeout=20)
        files = {"boom_module/__init__.py": "", "boom_module/component.py": BOOM}
        boom_id = approved(registry, wheel("boom-module", files=files), BOOM_MANIFEST)
        boom = install(registry, boom_id, "acme", {})
        reason = wait_for(lambda: _unhealthy(registry, boom), 20, "the registry to hear why")
        assert "boom: the module cannot start here" in reason
        states = {row["name"]: row["state"] for row in admin.get("/components").json()}
        assert states.get("echo_module") == "running" and "boom_module" not in states
        assert not [line for line in acme.lines if line.get("event") == "echo.stopped"]
        assert installation(registry, echo)["health"]["status"] == "healthy"


def test_a_secret_the_registry_never_sends_is_named_not_run_masked(
    tmp_path: Path, registry: Registry, echo_wheel: tuple[str, bytes]
) -> None:
    assert "\n    repeat:" in ECHO_MANIFEST
    with_secret = ECHO_MANIFEST.replace(
        "    repeat:", "    token: {type: string, writeOnly: true}\n    repeat:"
    )
    module_id = approved(registry, echo_wheel, with_secret)
    installation_id = install(registry, module_id, "acme", {"greeting": "hi", "token": "s3cr3t-<&>-value"})
    acme, admin = installing_app(tmp_path, registry, "acme")
    with acme, admin:
        reason = wait_for(lambda: _unhealthy(registry, installation_id), 20, "the registry to hear why")
        assert "config token are secrets (writeOnly) the registry never sends" in reason
        assert "echo_module" not in {row["name"] for row in admin.get("/components").json()}
    assert not [line for line in acme.text if "s3cr3t" in line]


def test_a_bad_config_update_keeps_the_running_one(tmp_path: Path, registry: Registry, echo_wheel: tuple[str, bytes]) -> None:
    looser = ECHO_MANIFEST.replace(", maximum: 10", "")  # the registry's schema admits repeat: 50
    installation_id = install(registry, approved(registry, echo_wheel, looser), "acme", {"greeting": "hi", "repeat": 2})
    acme, admin = installing_app(tmp_path, registry, "acme")
    with acme, admin:
        acme.wait_for("echo.started", timeout=20)
        reconfigure(registry, installation_id, {"greeting": "hi", "repeat": 50})
        reason = wait_for(lambda: _unhealthy(registry, installation_id), 20, "the registry to hear why")
        assert "components.echo_module.config.repeat" in reason
        assert admin.get("/modules/echo-module/hello").json() == {"greeting": "hi", "repeat": 2}
        assert not [line for line in acme.lines if line.get("event") == "echo.stopped"]
