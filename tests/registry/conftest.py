"""Fixtures of the registry tests: a registry per session (and xdist worker) on SQLite and one on
PostgreSQL (a fresh database), shared by tests that each use names and companies of their own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry.servers import Registry, require_postgres, running_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "echo-module"
_names = itertools.count()
DB_PASSWORD = "db-Password-never-shown-42"


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry-sqlite"), "sqlite") as running:
        yield running


@pytest.fixture(scope="session")
def postgres_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    require_postgres()
    # trust auth ignores the password: it is there to show it never leaves the process
    password = f"components.database.config.password={DB_PASSWORD}"
    with running_registry(tmp_path_factory.mktemp("registry-postgres"), "postgres", password) as running:
        yield running


@pytest.fixture(params=DATABASES)
def registry(request: pytest.FixtureRequest) -> Registry:
    """The registry running on SQLite, then on a fresh PostgreSQL database, each shared by the tests
    of a session (each test works with module names and companies of its own: see ``unique``)."""
    running: Registry = request.getfixturevalue(f"{request.param}_registry")
    return running


@pytest.fixture
def unique() -> str:
    """A module name no other test of this session uses."""
    return f"mod-t{next(_names)}-{id(_names) % 997}"
