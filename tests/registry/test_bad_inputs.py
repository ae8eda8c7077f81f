"""Every bad input of the issue's list is refused with the right status, naming the field or the rule."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from module_registry.auth import mint
from tests.registry.servers import SECRET, Registry
from tests.registry.wheels import manifest, publish, published, wheel


def _locations(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [problem["loc"] for problem in response.json()["detail"]]


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"name": None}, ["manifest", "name"]),
        ({"version": "1.0"}, ["manifest", "version"]),
        ({"version": "v1.0.0"}, ["manifest", "version"]),
        (
            {"dependencies": [{"name": "base", "version": ">=1.0", "type": "plugin"}]},
            ["manifest", "dependencies", 0, "type"],
        ),
        (
            {"dependencies": [{"name": "base", "version": "around 1", "type": "module"}]},
            ["manifest", "dependencies", 0, "version"],
        ),
        ({"config_schema": {"type": "no-such-type"}}, ["manifest", "config_schema"]),
        ({"config_schema": {"properties": {"a": {"minimum": "ten"}}}}, ["manifest", "config_schema"]),
        ({"entry_points": {"other": "a.b:C"}}, ["manifest", "entry_points"]),
    ],
)
def test_a_malformed_manifest_answers_422_naming_the_field(
    registry: Registry, unique: str, change: dict[str, Any], location: list[Any]
) -> None:
    """A missing name, a non-semver version, an unknown dependency type, an invalid JSON Schema: 422 at the field."""
    document = {key: value for key, value in {**manifest(unique), **change}.items() if value is not None}
    with registry.client("publisher", "acme") as client:
        assert location in _locations(publish(client, document))
        assert location in _locations(client.post("/modules/validate-manifest", json=document))


def test_a_manifest_that_is_not_a_mapping_is_refused(registry: Registry) -> None:
    """YAML that is a list, or not YAML at all, answers 422 at the manifest."""
    with registry.client("publisher", "acme") as client:
        assert _locations(publish(client, "- just\n- a list\n")) == [["manifest"]]
        assert _locations(publish(client, "name: [unclosed\n")) == [["manifest"]]


def test_a_duplicate_name_and_version_answers_409(registry: Registry, unique: str) -> None:
    """The same name and version twice: the second is refused with 409."""
    with registry.client("publisher", "acme") as client:
        published(client, None, manifest(unique))
        again = publish(client, manifest(unique), wheel(unique))
    assert again.status_code == 409
    assert again.json()["rule"] == "duplicate-version"


def _refusal(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    return str(response.json()["detail"][0]["type"])


def test_wheels_that_break_a_rule_are_refused_naming_it(registry: Registry, unique: str) -> None:
    """zip-slip ('..', absolute, symlink), a non-zip, a missing entry point, a name or version mismatch."""
    package = unique.replace("-", "_")
    good = {f"{package}/__init__.py": "", f"{package}/component.py": "class Main: ...\n"}
    cases = {
        "zip-slip": [
            wheel(unique, files={**good, "../../etc/evil.py": "x"}),
            wheel(unique, files={**good, "/etc/evil.py": "x"}),
            wheel(unique, files=good, symlinks={f"{package}/link": "/etc/passwd"}),
        ],
        "not-a-zip": [(f"{package}-1.0.0-py3-none-any.whl", b"this is not a zip file at all")],
        "entry-point": [wheel(unique, files={f"{package}/__init__.py": ""})],
        "name-mismatch": [wheel(unique, metadata_name="someone-else")],
        "version-mismatch": [(f"{package}-1.0.0-py3-none-any.whl", wheel(unique, "1.0.1")[1])],
    }
    with registry.client("publisher", "acme") as client:
        for rule, wheels in cases.items():
            for each in wheels:
                response = publish(client, manifest(unique), each)
                assert _refusal(response) == rule, response.text
                assert f"rule: {rule}" in response.json()["detail"][0]["msg"]
        assert client.get("/modules/", params={"name": unique}).json()["total"] == 0


def _set_max_size(registry: Registry, size: int) -> None:
    path = registry.conf / "components" / "packages.yaml"
    text = "\n".join(
        f"  max_size: {size}" if line.startswith("  max_size:") else line
        for line in path.read_text().splitlines()
    )
    mark = registry.app.mark()
    path.write_text(text + "\n")
    registry.app.wait_for("config.reloaded", timeout=15, after=mark)


def test_a_wheel_over_the_size_limit_answers_413_and_the_limit_reloads_live(
    registry: Registry, unique: str
) -> None:
    """packages.max_size lowered in the running registry's YAML: the next wheel over it gets 413."""
    name, data = wheel(unique)
    _set_max_size(registry, len(data) - 1)
    try:
        with registry.client("publisher", "acme") as client:
            response = publish(client, manifest(unique), (name, data))
            assert response.status_code == 413, response.text
            assert response.json()["rule"] == "size-limit"
    finally:
        _set_max_size(registry, 10485760)
    with registry.client("publisher", "acme") as client:
        assert publish(client, manifest(unique), (name, data)).status_code == 201


def test_a_body_over_the_limit_answers_413(registry: Registry) -> None:
    """A JSON body larger than api.max_body is refused before any route."""
    with registry.client("member", "acme") as client:
        response = client.post("/installations/", json={"module_id": 1, "config": {"x": "y" * 2_000_000}})
    assert response.status_code == 413
    assert response.json()["rule"] == "body-limit"


def test_tokens_that_prove_nothing_answer_401(registry: Registry) -> None:
    """No token, an expired one, one signed with another key, one with an unknown role: 401."""
    expired = mint(SECRET, "admin", "acme", ttl=-10)
    forged = mint("another-secret-of-enough-length-0123456789", "admin", "acme")
    with registry.anonymous() as client:
        assert client.get("/modules/").status_code == 401
        for token in (expired, forged, "not.a.jwt"):
            response = client.get("/modules/", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, token
        assert client.get("/installations/", headers={"Authorization": "Basic abc"}).status_code == 401


def test_only_admins_approve_and_only_publishers_register(registry: Registry, unique: str) -> None:
    """A publisher's or member's approval answers 403; a member's registration too."""
    with registry.client("publisher", "acme") as client, registry.client("member", "acme") as member:
        record = published(client, None, manifest(unique))
        for who in (client, member):
            response = who.patch(
                f"/modules/{record['id']}/status", json={"status": "approved", "reason": "me"}
            )
            assert response.status_code == 403
        assert publish(member, manifest(unique, "2.0.0")).status_code == 403
        assert client.get(f"/modules/{record['id']}").json()["status"] == "pending"


def test_pending_rejected_and_deleted_modules_cannot_be_installed(registry: Registry, unique: str) -> None:
    """Installing a module that is not approved, or deleted, answers 409 naming its state."""
    with (
        registry.client("publisher", f"{unique}-vendor") as client,
        registry.client("admin", "root") as admin,
    ):
        pending = published(client, None, manifest(unique, "1.0.0"))
        rejected = published(client, None, manifest(unique, "1.1.0"))
        admin.patch(f"/modules/{rejected['id']}/status", json={"status": "rejected", "reason": "no"})
        deleted = published(client, admin, manifest(unique, "1.2.0"))
        client.delete(f"/modules/{deleted['id']}")
        for record, state in ((pending, "pending"), (rejected, "rejected"), (deleted, "deleted")):
            response = client.post("/installations/", json={"module_id": record["id"], "company_id": None})
            assert response.status_code == 409, response.text
            assert state in response.json()["detail"]
    with registry.client("member", f"{unique}-co") as member:
        for record in (pending, rejected, deleted):
            assert member.post("/installations/", json={"module_id": record["id"]}).status_code == 404
        assert member.get("/installations/").json() == []


def test_an_invalid_config_answers_422_naming_each_failing_key(registry: Registry, unique: str) -> None:
    """A config breaking the manifest's config_schema: each failing key is named, no value echoed."""
    schema = {
        "type": "object",
        "properties": {
            "greeting": {"type": "string", "minLength": 1},
            "repeat": {"type": "integer", "maximum": 10},
            "token": {"type": "string", "writeOnly": True, "minLength": 40},
        },
        "required": ["greeting"],
        "additionalProperties": False,
    }
    with registry.client("publisher", "acme") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest(unique, config_schema=schema))
        response = client.post(
            "/installations/",
            json={"module_id": record["id"], "config": {"repeat": 99, "token": "hunter2-secret"}},
        )
    locations = _locations(response)
    assert (
        ["config", "greeting"] in locations
        and ["config", "repeat"] in locations
        and ["config", "token"] in locations
    )
    assert "hunter2-secret" not in response.text


def test_concurrent_installs_of_one_module_for_one_company_let_exactly_one_win(
    registry: Registry, unique: str
) -> None:
    """Two installs at once of the same module for the same company: one 201, the other 409."""
    with registry.client("publisher", "acme") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest(unique))
    for round_ in range(3):
        clients = [registry.client("member", f"race-{unique}-{round_}") for _ in range(2)]
        barrier = threading.Barrier(2)

        def install(member: httpx.Client, barrier: threading.Barrier = barrier) -> int:
            barrier.wait()
            return member.post("/installations/", json={"module_id": record["id"]}).status_code

        try:
            with ThreadPoolExecutor(2) as pool:
                statuses = sorted(pool.map(install, clients))
            assert statuses == [201, 409]
            assert len(clients[0].get("/installations/").json()) == 1
        finally:
            for member in clients:
                member.close()
