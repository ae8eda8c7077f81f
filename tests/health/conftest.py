"""Fixtures of the health, resilience and admin API tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.health.apps import make_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project dir with the fixture app: source -> sink, the admin API on a free port."""
    return make_project(tmp_path)
