"""Fixtures for the whole suite: every test starts from the same process-wide state."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from framework import assembly, registry, secrets
from framework import logging as framework_logging
from framework.testing import write_tree

# Writes a user's project (their package and conf/) into the test's folder, which becomes the
# working directory and importable, as when a user runs `integrate` there; returns the folder.
UserProject = Callable[[Mapping[str, str]], Path]


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
