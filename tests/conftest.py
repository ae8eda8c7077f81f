"""Fixtures for the whole suite: every test starts from the same process-wide state."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from framework import assembly, registry, secrets
from framework import logging as framework_logging
from framework.testing import write_tree
from tests.cluster import PORTS, LocalCluster, missing_tools

# Compositions the suite's apps and CLI runs cache go to a folder of this run, not the user's
# ~/.cache/integrate: every run starts cold and leaves nothing in the home directory.
os.environ.setdefault("INTEGRATE_CACHE_DIR", tempfile.mkdtemp(prefix="integrate-cache-"))

# Writes a user's project (their package and conf/) into the test's folder, which becomes the
# working directory and importable, as when a user runs `integrate` there; returns the folder.
UserProject = Callable[[Mapping[str, str]], Path]


def require_server(error: str | None, server: str) -> None:
    """Skip the test when a server it needs is down (``error`` says why); fail it when CI=true."""
    if error is not None:
        message = f"{server} not reachable: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def redis_cluster(worker_id: str) -> Iterator[str]:
    """The URL of a Redis Cluster (3 masters, 3 replicas) on 127.0.0.1:7101-7106, started for the
    session and killed after it; skips without redis-server, fails when CI=true.

    Defined here, once, so every folder's tests share one cluster per session. Each pytest-xdist
    worker that needs one starts its own, ten ports further up (gw1: 7111-7116): a session kills
    its cluster when it ends, whoever else might still be using it.
    """
    require_server(missing_tools(), "a local Redis Cluster (redis-server, redis-cli)")
    offset = 10 * int(worker_id[2:]) if worker_id.startswith("gw") else 0
    with LocalCluster(tuple(port + offset for port in PORTS)) as url:
        yield url


@pytest.fixture
def user_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UserProject:
    def write(files: Mapping[str, str]) -> Path:
        write_tree(tmp_path, dict(files))
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        return tmp_path

    return write


@pytest.fixture(autouse=True)
def clean_process_state() -> Iterator[None]:
    """Forget what an earlier test taught the process: secrets to mask, resolved classes, sections,
    the log handlers (an open log file among them).

    The masker learns each committed snapshot's secret values, the registry caches resolved
    classes and the entry points it found and learns the project folders it imports from, and
    the framework's section table is built once; a test that left any of them changed would
    make the next one pass or fail by order.
    """
    yield
    secrets.reset_masker()
    registry.reset()
    assembly.framework_sections.cache_clear()
    framework_logging.reset()
