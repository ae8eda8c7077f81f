"""Modules over HTTP: register with a wheel, download it, list with filters, approve, update, delete."""

from __future__ import annotations

import yaml

from tests.registry.conftest import EXAMPLE
from tests.registry.servers import Registry
from tests.registry.wheels import manifest, published


def test_listing_filters_by_name_status_visibility_author_and_text_and_pages(
    registry: Registry, unique: str
) -> None:
    """GET /modules/ filters and pages: {items, total, limit, offset}."""
    with registry.client("publisher", "acme") as client, registry.client("admin", "root") as admin:
        for version in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
            published(client, None, manifest(unique, version, author="ada", description="finds the needle"))
        admin.patch(
            f"/modules/{client.get('/modules/', params={'name': unique}).json()['items'][0]['id']}/status",
            json={"status": "approved", "reason": "ok"},
        )
        page = client.get("/modules/", params={"name": unique, "limit": 2, "offset": 0}).json()
        assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (3, 2, 0, 2)
        rest = client.get("/modules/", params={"name": unique, "limit": 2, "offset": 2}).json()
        assert len(rest["items"]) == 1
        assert client.get("/modules/", params={"name": unique, "status": "approved"}).json()["total"] == 1
        assert client.get("/modules/", params={"name": unique, "visibility": "private"}).json()["total"] == 0
        assert client.get("/modules/", params={"author": "ada", "q": "NEEDLE"}).json()["total"] >= 3
        assert client.get("/modules/", params={"q": "no-such-text-anywhere"}).json()["total"] == 0
        assert client.get("/modules/", params={"name": unique, "q": "%"}).json()["total"] == 0  # % is literal
        assert client.get("/modules/", params={"name": unique, "q": "the_needle"}).json()["total"] == 0


def test_validate_manifest_accepts_yaml_and_json(registry: Registry) -> None:
    """POST /modules/validate-manifest answers the normalized manifest for YAML and for JSON."""
    text = (EXAMPLE / "module.yaml").read_text()
    with registry.client("member", "acme") as client:
        as_yaml = client.post(
            "/modules/validate-manifest", content=text, headers={"Content-Type": "application/yaml"}
        )
        as_json = client.post("/modules/validate-manifest", json=yaml.safe_load(text))
    assert as_yaml.status_code == as_json.status_code == 200
    assert as_yaml.json() == as_json.json()
    assert as_json.json()["manifest"]["entry_points"] == {"main": "echo_module.component:Echo"}


def test_an_approved_version_is_immutable_and_a_pending_one_can_change(
    registry: Registry, unique: str
) -> None:
    """PUT on a pending version changes it; on an approved one it answers 409 'publish a new version'."""
    with registry.client("publisher", "acme") as client, registry.client("admin", "root") as admin:
        record = published(client, None, manifest(unique))
        changed = client.put(
            f"/modules/{record['id']}",
            json={"manifest": manifest(unique, description="better"), "visibility": "private"},
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["description"], changed.json()["visibility"]) == ("better", "private")
        renamed = client.put(f"/modules/{record['id']}", json={"manifest": manifest(unique, "9.9.9")})
        assert renamed.status_code == 422 and renamed.json()["detail"][0]["loc"] == ["manifest", "version"]
        admin.patch(f"/modules/{record['id']}/status", json={"status": "approved", "reason": "fine"})
        refused = client.put(f"/modules/{record['id']}", json={"visibility": "public"})
    assert refused.status_code == 409
    assert "publish a new version" in refused.json()["detail"]


def test_approval_and_rejection_record_the_reason(registry: Registry, unique: str) -> None:
    """PATCH status by an admin sets status and reason; a rejected module can be fixed and goes back to pending."""
    with registry.client("publisher", "acme") as client, registry.client("admin", "root") as admin:
        record = published(client, None, manifest(unique))
        rejected = admin.patch(
            f"/modules/{record['id']}/status", json={"status": "rejected", "reason": "no docs"}
        )
        assert (rejected.json()["status"], rejected.json()["status_reason"]) == ("rejected", "no docs")
        fixed = client.put(
            f"/modules/{record['id']}", json={"manifest": manifest(unique, description="docs")}
        )
        assert (fixed.json()["status"], fixed.json()["status_reason"]) == ("pending", None)


def test_a_deleted_module_is_kept_on_record_but_hidden(registry: Registry, unique: str) -> None:
    """DELETE is a soft delete: the owner still reads it (deleted: true); lists hide it; others get 404."""
    with registry.client("publisher", "acme") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest(unique))
        assert client.delete(f"/modules/{record['id']}").json()["deleted"] is True
        assert client.get(f"/modules/{record['id']}").json()["deleted"] is True
        assert client.get("/modules/", params={"name": unique}).json()["total"] == 0
        assert client.get("/modules/", params={"name": unique, "deleted": True}).json()["total"] == 1
    with registry.client("member", "other") as stranger:
        assert stranger.get(f"/modules/{record['id']}").status_code == 404
