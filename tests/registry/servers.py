"""The registry under test: a real `integrate run` subprocess on a copy of its conf/, on SQLite or on a
fresh PostgreSQL database; and that PostgreSQL database's creation and removal."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import module_registry
from framework.testing import RunningApp, run_app
from module_registry.auth import Role, mint

CONF = Path(module_registry.__file__).parent / "conf"
SECRET = "registry-test-secret-" + "k" * 24
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def require_postgres(port: int = 5432) -> None:
    """Skip when PostgreSQL does not answer on 127.0.0.1:port; fail instead when CI=true."""
    error = asyncio.run(_reach(port))
    if error is None:
        return
    message = f"PostgreSQL not reachable on 127.0.0.1:{port} (trust auth, database test): {error}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def _reach(port: int) -> str | None:
    import asyncpg

    try:
        connection = await asyncpg.connect(**{**PG, "port": port}, database="test", timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await connection.close()
    return None


async def _admin(sql: str, port: int = 5432) -> None:
    import asyncpg

    connection = await asyncpg.connect(**{**PG, "port": port}, database="test", timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def fresh_database(port: int = 5432) -> Iterator[str]:
    """A new, empty database with a unique name (dropped after); only it is ever touched."""
    name = f"registry_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"', port))
    try:
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', port))


@dataclass
class Registry:
    """A running registry: its URL, its process (log lines), its folder and conf copy."""

    app: RunningApp
    url: str
    workdir: Path
    conf: Path
    db: str

    def token(self, role: Role, company: str, ttl: float = 600) -> str:
        return mint(SECRET, role, company, subject=f"{role}@{company}", ttl=ttl)

    def client(self, role: Role, company: str) -> httpx.Client:
        """An HTTP client of the API acting as ``role`` of ``company``."""
        headers = {"Authorization": f"Bearer {self.token(role, company)}"}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=20)

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", timeout=20)


def environment() -> dict[str, str]:
    return {"REGISTRY_JWT_SECRET": SECRET, "REGISTRY_BUS_KEY": "registry-bus-key-for-tests-0123"}


def db_overrides(db: str, database: str | None, port: int = 5432) -> list[str]:
    if db == "sqlite":
        return ["db=sqlite"]
    return [
        "db=postgres",
        f"components.database.config.database={database}",
        f"components.database.config.port={port}",
    ]


@contextmanager
def running_registry(workdir: Path, db: str, *extra: str, port: int = 5432) -> Iterator[Registry]:
    """Start the registry in ``workdir`` (its own copy of conf/) on ``db``; stop it after."""
    conf = workdir / "conf"
    if not conf.exists():
        shutil.copytree(CONF, conf)
    with fresh_database(port) if db == "postgres" else _no_database() as database:
        args = [
            "--config-dir",
            str(conf),
            "components.api.config.port=0",
            *db_overrides(db, database, port),
            *extra,
        ]
        app = run_app(*args, cwd=workdir, env=environment(), ready="registry.started", timeout=40)
        with app:
            url = app.events("registry.started")[-1]["url"]
            yield Registry(app=app, url=url, workdir=workdir, conf=conf, db=db)


@contextmanager
def _no_database() -> Iterator[None]:
    yield None


def data(response: httpx.Response) -> Any:
    return response.json()
