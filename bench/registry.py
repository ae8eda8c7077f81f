"""The module registry at 10,000 modules, on SQLite and on PostgreSQL in one run, beside bare SQLAlchemy.

For each database a real registry (`integrate run --config-dir module_registry/conf`) is started
on a fresh database (SQLite: a temporary file; PostgreSQL: a new database on 127.0.0.1:5432,
dropped after). 10,000 modules are bulk-inserted (then ANALYZEd, as autovacuum would), then measured over HTTP with keep-alive:
- list: ``GET /api/v1/modules/?limit=50`` as a member (the visibility filter applies);
- filter: ``?status=approved&author=author-7&q=needle``;
- install: ``POST /api/v1/installations/`` for new companies (8 at a time): installs per second.
Beside each, the same statements through bare SQLAlchemy async sessions (count + page; one
installation and its health row per transaction). Goal (issue 16): list p99 under 20 ms on
PostgreSQL, and under 1.5x bare SQLAlchemy. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import and_, false, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from framework.testing import run_app  # noqa: E402
from module_registry.auth import mint  # noqa: E402
from module_registry.tables import Health, Installation, Module  # noqa: E402

SECRET = "bench-registry-secret-" + "x" * 24
FILTER = {"status": "approved", "author": "author-7", "q": "needle"}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


async def timed(action: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - start)
    return samples


# --- the registry process and its database ---


@contextmanager
def postgres_database() -> Iterator[str]:
    import asyncpg

    name = f"registry_bench_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="test")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def registry(workdir: Path, overrides: list[str]) -> Iterator[str]:
    """A registry subprocess (as the tests run one: framework.testing.run_app); its URL once it serves."""
    process = run_app(
        "--config-dir", str(REPO / "module_registry" / "conf"), "components.api.config.port=0", *overrides,
        cwd=workdir, env={"REGISTRY_JWT_SECRET": SECRET}, ready="registry.started", timeout=60,
    )
    with process:
        yield str(process.wait_for("registry.started", after=0)["url"])


# --- seeding and the bare-SQLAlchemy side ---


def module_rows(count: int) -> list[dict[str, Any]]:
    now = time.time()
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(now, UTC)
    rows = []
    for index in range(count):
        name = f"bench-{index // 4}"
        manifest = {
            "name": name,
            "version": f"1.{index % 4}.0",
            "entry_points": {"main": "pkg.mod:C"},
            "dependencies": [],
            "endpoints": [],
            "config_schema": {"type": "object"},
        }
        rows.append({
            "name": name, "version": manifest["version"], "description": "finds the needle" if index % 10 == 0 else "a module",
            "author": f"author-{index % 50}", "status": "approved" if index % 3 else "pending", "status_reason": None,
            "visibility": "private" if index % 7 == 0 else "public", "company_id": f"vendor-{index % 20}",
            "deleted": False, "manifest": manifest, "created_at": stamp, "updated_at": stamp,
        })  # fmt: skip
    return rows


async def seed(engine: AsyncEngine, count: int) -> None:
    rows = module_rows(count)
    async with engine.begin() as connection:
        for start in range(0, len(rows), 1000):
            await connection.execute(insert(Module), rows[start : start + 1000])
    async with engine.begin() as connection:  # the statistics autovacuum would gather by now
        await connection.execute(text("ANALYZE"))


def _visible(company: str) -> Any:
    return or_(
        Module.company_id == company,
        and_(Module.visibility == "public", Module.status == "approved", Module.deleted == false()),
    )


def _conditions(company: str, filters: dict[str, str]) -> list[Any]:
    conditions = [_visible(company), Module.deleted == false()]
    if "status" in filters:
        conditions.append(Module.status == filters["status"])
    if "author" in filters:
        conditions.append(Module.author == filters["author"])
    if "q" in filters:
        pattern = f"%{filters['q']}%"
        conditions.append(or_(func.lower(Module.name).like(pattern), func.lower(Module.description).like(pattern),
                              func.lower(Module.author).like(pattern)))  # fmt: skip
    return conditions


async def bare_list(sessions: async_sessionmaker[Any], filters: dict[str, str]) -> list[dict[str, Any]]:
    """The registry's list, through bare SQLAlchemy: count + one page, rows as dicts."""
    conditions = _conditions("member-co", filters)
    async with sessions.begin() as session:
        await session.scalar(select(func.count()).select_from(Module).where(*conditions))
        rows = (
            await session.scalars(
                select(Module).where(*conditions).order_by(Module.name, Module.id).limit(50)
            )
        ).all()
        return [{"id": row.id, "name": row.name, "manifest": row.manifest} for row in rows]


async def bare_install(sessions: async_sessionmaker[Any], module: Module, company: str) -> None:
    async with sessions.begin() as session:
        session.add(Installation(company_id=company, module_id=module.id, module_name=module.name, config={},
                                 health=Health(status="unknown", reason="", instance="")))  # fmt: skip


# --- one database: the service over HTTP against bare SQLAlchemy ---


async def install_rate(install: Callable[[int], Awaitable[Any]], count: int, concurrency: int = 8) -> float:
    """Installs per second, ``concurrency`` at a time."""
    queue = iter(range(count))

    async def worker() -> None:
        for index in queue:
            await install(index)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - start)


async def measure_http(url: str, requests: int, installs: int, module_ids: list[int]) -> dict[str, Any]:
    member = {"Authorization": f"Bearer {mint(SECRET, 'member', 'member-co', ttl=3600)}"}
    admin = {"Authorization": f"Bearer {mint(SECRET, 'admin', 'root', ttl=3600)}"}
    async with httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=30) as client:

        async def listing(params: dict[str, Any]) -> None:
            response = await client.get("/modules/", params=params, headers=member)
            response.raise_for_status()

        await timed(lambda: listing({"limit": 50}), 20)  # warm-up
        list_samples = await timed(lambda: listing({"limit": 50}), requests)
        filter_samples = await timed(lambda: listing({**FILTER, "limit": 50}), requests)

        async def install(index: int) -> None:
            body = {"module_id": module_ids[index % len(module_ids)], "company_id": f"http-co-{index}"}
            response = await client.post("/installations/", json=body, headers=admin)
            response.raise_for_status()

        rate = await install_rate(install, installs)
    return {
        "list": percentiles(list_samples),
        "filter": percentiles(filter_samples),
        "installs_per_s": round(rate, 1),
    }


async def measure_bare(
    engine: AsyncEngine, requests: int, installs: int, module_ids: list[int]
) -> dict[str, Any]:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    await timed(lambda: bare_list(sessions, {}), 20)
    list_samples = await timed(lambda: bare_list(sessions, {}), requests)
    filter_samples = await timed(lambda: bare_list(sessions, FILTER), requests)
    async with sessions() as session:
        modules = {
            row.id: row
            for row in (await session.scalars(select(Module).where(Module.id.in_(module_ids)))).all()
        }
    rate = await install_rate(
        lambda index: bare_install(
            sessions, modules[module_ids[index % len(module_ids)]], f"bare-co-{index}"
        ),
        installs,
    )
    return {
        "list": percentiles(list_samples),
        "filter": percentiles(filter_samples),
        "installs_per_s": round(rate, 1),
    }


async def approved_ids(engine: AsyncEngine, count: int) -> list[int]:
    query = select(Module.id).where(Module.status == "approved", Module.visibility == "public").limit(count)
    async with engine.connect() as connection:
        return [row[0] for row in await connection.execute(query)]


def bench_database(db: str, modules: int, requests: int, installs: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-registry-{db}-"))
    try:
        with postgres_database() if db == "postgres" else _none() as database:
            if db == "postgres":
                overrides = ["db=postgres", f"components.database.config.database={database}"]
                url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
            else:
                overrides, url = ["db=sqlite"], f"sqlite+aiosqlite:///{workdir / 'var' / 'registry.sqlite3'}"
            with registry(workdir, overrides) as base:
                return asyncio.run(_measure(base, url, modules, requests, installs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _measure(base: str, url: str, modules: int, requests: int, installs: int) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        await seed(engine, modules)
        ids = await approved_ids(engine, 50)
        service = await measure_http(base, requests, installs, ids)
        bare = await measure_bare(engine, requests, installs, ids)
    finally:
        await engine.dispose()
    return {
        "service": service,
        "bare_sqlalchemy": bare,
        "ratio_list_p99": round(service["list"]["p99_ms"] / bare["list"]["p99_ms"], 2),
        "ratio_filter_p99": round(service["filter"]["p99_ms"] / bare["filter"]["p99_ms"], 2),
        "ratio_installs": round(service["installs_per_s"] / bare["installs_per_s"], 2),
    }


@contextmanager
def _none() -> Iterator[None]:
    yield None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300, help="timed list (and filter) requests per side")
    parser.add_argument("--installs", type=int, default=300, help="installs per side")
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()
    result: dict[str, Any] = {"modules": args.modules}
    for db in args.databases.split(","):
        figures = bench_database(db, args.modules, args.requests, args.installs)
        result[db] = figures
        service, bare = figures["service"], figures["bare_sqlalchemy"]
        print(f"{db:>8}: list p50 {service['list']['p50_ms']:.2f} / p99 {service['list']['p99_ms']:.2f} ms"
              f" (bare {bare['list']['p50_ms']:.2f} / {bare['list']['p99_ms']:.2f}, {figures['ratio_list_p99']}x);"
              f" filter p99 {service['filter']['p99_ms']:.2f} ms ({figures['ratio_filter_p99']}x);"
              f" installs {service['installs_per_s']:.0f}/s (bare {bare['installs_per_s']:.0f}/s)")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
