"""PostgreSQL restarted while installs are in flight: each answers 201 or a clean 503, nothing is half
written, and the registry serves again once the database is back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.registry.own_postgres import OwnPostgres, require_tools
from tests.registry.servers import Registry, running_registry
from tests.registry.wheels import manifest, published

pytestmark = pytest.mark.postgres


@pytest.fixture
def server() -> Iterator[OwnPostgres]:
    require_tools()
    postgres = OwnPostgres()
    try:
        postgres.init()
        yield postgres
    finally:
        postgres.remove()


def _hammer(
    registry: Registry, module_id: int, stop: threading.Event, results: list[tuple[str, int]], worker: int
) -> None:
    with registry.client("admin", "root") as admin:
        count = 0
        while not stop.is_set():
            company = f"co-{worker}-{count}"
            count += 1
            try:
                status = admin.post(
                    "/installations/", json={"module_id": module_id, "company_id": company}
                ).status_code
            except httpx.HTTPError:
                status = -1
            results.append((company, status))


async def _rows(port: int, database: str) -> tuple[list[str], int]:
    import asyncpg

    connection = await asyncpg.connect(
        host="127.0.0.1", port=port, user="postgres", database=database, timeout=10
    )
    try:
        companies = [row[0] for row in await connection.fetch("SELECT company_id FROM installations")]
        orphans = await connection.fetchval(
            "SELECT count(*) FROM installations i LEFT JOIN health h ON h.installation_id = i.id WHERE h.installation_id IS NULL"
        )
        return companies, int(orphans)
    finally:
        await connection.close()


def test_a_restart_mid_request_answers_503_and_writes_nothing_half(
    server: OwnPostgres, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Installs running while the server stops (immediate) and starts again: 201 or 503, never 500."""
    workdir = tmp_path_factory.mktemp("registry-restart")
    with running_registry(
        workdir, "postgres", "components.database.config.timeout=2", port=server.port
    ) as registry:
        database = next(
            arg.split("=", 1)[1] for arg in registry.app.process.args if "config.database=" in str(arg)
        )
        with registry.client("publisher", "vendor") as client, registry.client("admin", "root") as admin:
            record = published(client, admin, manifest("restart-me"))
        stop, results = threading.Event(), []
        threads = [
            threading.Thread(target=_hammer, args=(registry, record["id"], stop, results, n))
            for n in range(3)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        server.stop("immediate")
        time.sleep(1.0)
        server.start()
        time.sleep(2.0)
        stop.set()
        for thread in threads:
            thread.join(30)
        statuses = {status for _, status in results}
        assert statuses <= {201, 503}, sorted(statuses)
        assert 503 in statuses and results[-1][1] == 201, results[-10:]
        with registry.client("member", "vendor") as member:
            assert member.get("/modules/").status_code == 200
        companies, orphans = asyncio.run(_rows(server.port, str(database)))
    assert orphans == 0
    assert len(companies) == len(set(companies))
    assert {company for company, status in results if status == 201} <= set(companies)
