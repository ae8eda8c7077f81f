"""Helpers and pytest fixtures for testing apps built on the framework.

Registered as a pytest plugin (entry point ``pytest11``), so the fixtures are available in any
project that installs the framework.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (text is dedented); return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def integrate(
    *args: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the `integrate` command as a user would, in a subprocess; never raises on failure."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "framework", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """An empty ``conf/`` folder in a temporary project directory (the cwd of CLI runs)."""
    conf = tmp_path / "conf"
    conf.mkdir()
    return conf
