"""Installations: dependencies resolved with semver, uninstall guarded, secrets masked, health recorded."""

from __future__ import annotations

from typing import Any

import httpx

from tests.registry.conftest import DB_PASSWORD
from tests.registry.servers import SECRET, Registry
from tests.registry.wheels import manifest, published

SCHEMA = {
    "type": "object",
    "properties": {"greeting": {"type": "string"}, "api_key": {"type": "string", "writeOnly": True}},
    "required": ["greeting"],
}


def _dependency(name: str, version: str) -> list[dict[str, Any]]:
    return [{"name": name, "version": version, "type": "module"}]


def _install(client: httpx.Client, module_id: int, config: dict[str, Any] | None = None) -> httpx.Response:
    return client.post("/installations/", json={"module_id": module_id, "config": config or {}})


def test_missing_dependencies_are_installed_too_with_the_newest_matching_version(
    registry: Registry, unique: str
) -> None:
    """Installing a module whose dependency the company lacks installs the newest approved match first."""
    base, app = f"{unique}-base", f"{unique}-app"
    with registry.client("publisher", "vendor") as client, registry.client("admin", "root") as admin:
        for version in ("1.0.0", "1.4.0", "2.0.0"):
            published(client, admin, manifest(base, version))
        top = published(client, admin, manifest(app, dependencies=_dependency(base, ">=1.0,<2")))
    with registry.client("member", f"{unique}-co") as member:
        response = _install(member, top["id"])
        assert response.status_code == 201, response.text
        versions = {each["module"]: each["version"] for each in member.get("/installations/").json()}
    assert versions == {base: "1.4.0", app: "1.0.0"}


def test_an_unmet_constraint_is_refused_naming_it(registry: Registry, unique: str) -> None:
    """No approved version in range, or an installed version out of range: 409 naming the constraint."""
    base, app, strict = f"{unique}-base", f"{unique}-app", f"{unique}-strict"
    with registry.client("publisher", "vendor") as client, registry.client("admin", "root") as admin:
        old = published(client, admin, manifest(base, "1.0.0"))
        top = published(client, admin, manifest(app, dependencies=_dependency(base, ">=3")))
        needs = published(client, admin, manifest(strict, dependencies=_dependency(base, "<1")))
    with registry.client("member", f"{unique}-co") as member:
        refused = _install(member, top["id"])
        assert refused.status_code == 409
        assert f"{base}>=3" in refused.json()["detail"]
        assert member.get("/installations/").json() == []
        assert _install(member, old["id"]).status_code == 201
        conflict = _install(member, needs["id"])
    assert conflict.status_code == 409
    assert f"{base}<1" in conflict.json()["detail"] and "1.0.0" in conflict.json()["detail"]


def test_uninstalling_a_module_others_depend_on_is_refused(registry: Registry, unique: str) -> None:
    """409 while a dependent is installed; once the dependent is gone, the uninstall goes through."""
    base, app = f"{unique}-base", f"{unique}-app"
    with registry.client("publisher", "vendor") as client, registry.client("admin", "root") as admin:
        published(client, admin, manifest(base))
        top = published(client, admin, manifest(app, dependencies=_dependency(base, ">=1")))
    with registry.client("member", f"{unique}-co") as member:
        _install(member, top["id"])
        ids = {each["module"]: each["id"] for each in member.get("/installations/").json()}
        refused = member.delete(f"/installations/{ids[base]}")
        assert refused.status_code == 409 and app in refused.json()["detail"]
        assert member.delete(f"/installations/{ids[app]}").status_code == 200
        assert member.delete(f"/installations/{ids[base]}").status_code == 200
        assert member.get("/installations/").json() == []


def test_write_only_config_values_are_masked_and_kept(registry: Registry, unique: str) -> None:
    """A writeOnly value answers '***'; sending '***' back keeps the stored value; a new one replaces it."""
    with registry.client("publisher", "vendor") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest(unique, config_schema=SCHEMA))
    with registry.client("member", f"{unique}-co") as member:
        created = _install(member, record["id"], {"greeting": "hi", "api_key": "s3cr3t-value"})
        assert created.status_code == 201
        assert created.json()["config"] == {"greeting": "hi", "api_key": "***"}
        path = f"/installations/{created.json()['id']}"
        updated = member.put(path, json={"config": {"greeting": "hello", "api_key": "***"}})
        assert updated.json()["config"] == {"greeting": "hello", "api_key": "***"}
        assert "s3cr3t-value" not in member.get(path).text + member.get("/installations/").text
        assert member.put(path, json={"config": {"api_key": "x"}}).status_code == 422
    with registry.client("member", f"{unique}-co") as member:  # a 422 does not echo the value either
        refused = member.put(path, json={"config": {"greeting": 5, "api_key": "other-s3cr3t"}})
    assert refused.status_code == 422 and "other-s3cr3t" not in refused.text
    log = "\n".join(registry.app.text)
    for secret in ("s3cr3t-value", "other-s3cr3t", SECRET, DB_PASSWORD):
        assert secret not in log


def test_an_installation_record_carries_what_an_app_needs(registry: Registry, unique: str) -> None:
    """entry_point, endpoints, package digest and unknown health, as the contract says."""
    endpoints = [
        {"path": "/hello", "method": "GET", "handler": f"{unique.replace('-', '_')}.component:hello"}
    ]
    with registry.client("publisher", "vendor") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest(unique, endpoints=endpoints))
    with registry.client("member", f"{unique}-co") as member:
        created = _install(member, record["id"]).json()
    assert created["entry_point"] == f"{unique.replace('-', '_')}.component:Main"
    assert created["endpoints"] == endpoints
    assert created["package"] == {"sha256": record["package"]["sha256"], "size": record["package"]["size"]}
    assert created["health"] == {"status": "unknown", "reason": "", "instance": "", "reported_at": None}
    assert (created["company_id"], created["module"], created["version"]) == (f"{unique}-co", unique, "1.0.0")


def test_a_health_report_is_recorded(registry: Registry, unique: str) -> None:
    """POST health-check stores status, reason, instance and time."""
    with registry.client("publisher", "vendor") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest(unique))
    with registry.client("member", f"{unique}-co") as member:
        created = _install(member, record["id"]).json()
        report = {"status": "unhealthy", "reason": "sha256 mismatch", "instance": "host-1"}
        answer = member.post(f"/installations/{created['id']}/health-check", json=report).json()
    assert {key: answer["health"][key] for key in report} == report
    assert answer["health"]["reported_at"] is not None
