"""Fixtures of the registry tests: the example wheel (built once per session), a registry per test
module on SQLite and on PostgreSQL (a fresh database each), clients per role and company."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry.servers import Registry, build_wheel, require_postgres, running_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "echo-module"
_names = itertools.count()


@pytest.fixture(scope="session")
def echo_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/echo-module built with pip wheel: echo_module-1.0.0-py3-none-any.whl."""
    return build_wheel(EXAMPLE, tmp_path_factory.mktemp("echo-wheel"))


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def start_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    if request.param == "postgres":
        require_postgres()
    with running_registry(tmp_path_factory.mktemp(f"registry-{request.param}"), request.param) as running:
        yield running


@pytest.fixture(scope="session")
def sqlite_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry-sqlite"), "sqlite") as running:
        yield running


@pytest.fixture(scope="session")
def postgres_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    require_postgres()
    with running_registry(tmp_path_factory.mktemp("registry-postgres"), "postgres") as running:
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
