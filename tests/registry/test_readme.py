"""The README's registry section, run as it is written (only the registry's URL is the test's own):
the only test that publishes echo-module 1.0.0 and installs for company acme, so it can share the
session's registry."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.registry.conftest import EXAMPLE
from tests.registry.servers import Registry, environment

README = Path(__file__).resolve().parents[2] / "README.md"


def publish_block() -> str:
    """The bash block of the README's 'Publish, approve and install'."""
    section = README.read_text().split("## The module registry", 1)[1]
    after = section.split("Publish, approve and install", 1)[1]
    found = re.search(r"```bash\n(.*?)```", after, re.S)
    assert found, "the README has no 'Publish, approve and install' block"
    return found.group(1)


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
    registry: Registry, tmp_path: Path
) -> None:
    """The block's last command lists company acme's installation of echo-module, approved, configured."""
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "echo-module")
    script = publish_block().replace("http://127.0.0.1:8700", registry.url)
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
    wheel = (tmp_path / "dist" / "echo_module-1.0.0-py3-none-any.whl").read_bytes()
    assert installations[0]["package"] == {"sha256": hashlib.sha256(wheel).hexdigest(), "size": len(wheel)}
    with registry.client("member", "acme") as member:
        download = member.get(f"/modules/{installations[0]['module_id']}/package")
    assert download.content == wheel
    assert download.headers["X-Package-SHA256"] == hashlib.sha256(wheel).hexdigest()
