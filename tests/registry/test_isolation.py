"""Company isolation: a company sees and changes only its own installations and private modules;
anything else answers 404, exactly as if it did not exist."""

from __future__ import annotations

from typing import Any

import pytest

from tests.registry.servers import Registry
from tests.registry.wheels import manifest, published


@pytest.fixture
def installed(registry: Registry, unique: str) -> dict[str, Any]:
    """Company A's installation of an approved public module."""
    with registry.client("publisher", "vendor") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest(unique))
    with registry.client("member", f"{unique}-a") as member:
        response = member.post("/installations/", json={"module_id": record["id"], "config": {}})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_another_companys_installation_answers_404_to_reads_and_writes(
    registry: Registry, installed: dict[str, Any]
) -> None:
    """Company B reading, reconfiguring, reporting on or uninstalling A's installation gets 404, and nothing changes."""
    path = f"/installations/{installed['id']}"
    with registry.client("admin", "root") as admin:
        missing = admin.get("/installations/999999").json()
    for role in ("member", "publisher"):
        with registry.client(role, "company-b") as other:  # type: ignore[arg-type]
            answers = [
                other.get(path),
                other.put(path, json={"config": {}}),
                other.delete(path),
                other.post(
                    f"{path}/health-check", json={"status": "unhealthy", "reason": "b", "instance": "b"}
                ),
            ]
            assert [answer.status_code for answer in answers] == [404] * 4
            assert answers[0].json()["detail"] == missing["detail"].replace("999999", str(installed["id"]))
            assert installed["id"] not in [each["id"] for each in other.get("/installations/").json()]
    with registry.client("member", installed["company_id"]) as owner:
        assert owner.get(path).json()["health"]["status"] == "unknown"


def test_a_member_lists_only_its_company_even_when_asking_for_another(
    registry: Registry, installed: dict[str, Any]
) -> None:
    """?company_id= is for admins: a member asking for another company still gets only its own."""
    with registry.client("member", "company-b") as other:
        assert other.get("/installations/", params={"company_id": installed["company_id"]}).json() == []
    with registry.client("member", installed["company_id"]) as owner:
        assert [each["id"] for each in owner.get("/installations/").json()] == [installed["id"]]


def test_an_admin_sees_every_company_and_can_filter(registry: Registry, installed: dict[str, Any]) -> None:
    """An admin reads any installation and lists one company's with ?company_id=."""
    with registry.client("admin", "root") as admin:
        assert admin.get(f"/installations/{installed['id']}").status_code == 200
        listed = admin.get("/installations/", params={"company_id": installed["company_id"]}).json()
    assert installed["id"] in [each["id"] for each in listed]
    assert {each["company_id"] for each in listed} == {installed["company_id"]}


def test_a_private_module_is_invisible_and_uninstallable_to_other_companies(
    registry: Registry, unique: str
) -> None:
    """A's approved private module: 404 to B's reads, download and install; absent from B's lists."""
    with registry.client("publisher", "company-a") as client, registry.client("admin", "root") as admin:
        record = published(client, admin, manifest(unique), visibility="private")
    with registry.client("member", "company-b") as other:
        assert other.get(f"/modules/{record['id']}").status_code == 404
        assert other.get(f"/modules/{record['id']}/package").status_code == 404
        assert other.post("/installations/", json={"module_id": record["id"]}).status_code == 404
        assert other.get("/modules/", params={"name": unique}).json()["total"] == 0
    with registry.client("publisher", "company-b") as other_publisher:
        assert (
            other_publisher.put(f"/modules/{record['id']}", json={"visibility": "public"}).status_code == 404
        )
        assert other_publisher.delete(f"/modules/{record['id']}").status_code == 404
    with registry.client("member", "company-a") as owner:
        assert owner.post("/installations/", json={"module_id": record["id"]}).status_code == 201


def test_another_companys_pending_module_is_invisible(registry: Registry, unique: str) -> None:
    """A module awaiting approval is seen by its company and admins only."""
    with registry.client("publisher", "company-a") as client:
        record = published(client, None, manifest(unique))
    with registry.client("member", "company-b") as other:
        assert other.get(f"/modules/{record['id']}").status_code == 404
    with registry.client("admin", "root") as admin:
        assert admin.get(f"/modules/{record['id']}").status_code == 200


def test_an_installed_module_stays_downloadable_by_its_company_after_deletion(
    registry: Registry, installed: dict[str, Any]
) -> None:
    """A deleted module's wheel still reaches the companies running it, and no one else."""
    with registry.client("admin", "root") as admin:
        assert admin.delete(f"/modules/{installed['module_id']}").status_code == 200
    with registry.client("member", installed["company_id"]) as owner:
        assert owner.get(f"/modules/{installed['module_id']}").status_code == 404
        download = owner.get(f"/modules/{installed['module_id']}/package")
        assert download.status_code == 200
        assert download.headers["X-Package-SHA256"] == installed["package"]["sha256"]
    with registry.client("member", "company-b") as other:
        assert other.get(f"/modules/{installed['module_id']}/package").status_code == 404
