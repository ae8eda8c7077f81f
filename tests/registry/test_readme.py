"""The README's registry section, run as it is written (only the registry's URL is the test's own)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.registry.conftest import DATABASES, EXAMPLE, start_registry
from tests.registry.servers import Registry, environment

README = Path(__file__).resolve().parents[2] / "README.md"


def publish_block() -> str:
    """The bash block of the README's 'Publish, approve and install'."""
    section = README.read_text().split("## The module registry", 1)[1]
    after = section.split("Publish, approve and install", 1)[1]
    found = re.search(r"```bash\n(.*?)```", after, re.S)
    assert found, "the README has no 'Publish, approve and install' block"
    return found.group(1)


@pytest.fixture(scope="module", params=DATABASES)
def own_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A registry of this test's own: the README publishes echo-module 1.0.0 for company acme."""
    yield from start_registry(request, tmp_path_factory)


def json_values(text: str) -> list[Any]:
    """Every JSON value in ``text``, one after another."""
    decoder, values, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(text, at)) < len(text):
        value, at = decoder.raw_decode(text, at)
        values.append(value)
    return values


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def test_the_readme_publishes_approves_and_installs_the_echo_module(
    own_registry: Registry, tmp_path: Path
) -> None:
    """The block's last command lists company acme's installation of echo-module, approved, configured."""
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "echo-module")
    script = publish_block().replace("http://127.0.0.1:8700", own_registry.url)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, **environment(), "PATH": path}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installations = json_values(result.stdout)[-1]  # curl prints each answer without a newline
    assert [(each["company_id"], each["module"], each["config"]) for each in installations] == [
        ("acme", "echo-module", {"greeting": "hello"})
    ]
