"""Every command of the README walkthrough runs as written (runs bounded through the env layer)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WALKTHROUGH = (REPO / "README.md").read_text().split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
COMMANDS = [
    line.split("  #")[0].strip()
    for block in re.findall(r"```bash\n(.*?)```", WALKTHROUGH, re.DOTALL)
    for line in block.splitlines()
    if "integrate " in line and not line.startswith("sed ")
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    return tmp_path


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "MARKET__APP__DURATION": "1.5", "PYTHONPATH": str(REPO)}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_walkthrough_has_commands() -> None:
    """The walkthrough shows runs, overrides and inspection verbs."""
    assert len(COMMANDS) >= 7, COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_walkthrough_command_runs(project: Path, command: str) -> None:
    """Each walkthrough command exits 0 (a run stops by itself through MARKET__APP__DURATION)."""
    result = shell(command, project)
    assert result.returncode == 0, result.stderr[-2000:]
    if " run" in command:
        assert "all components stopped" in result.stderr


def test_walkthrough_mistake_prints_what_the_readme_shows(project: Path) -> None:
    """The documented mistake prints exactly the documented error."""
    shown = re.search(r"```text\n\$ (integrate run .+?)\n(.+?)```", WALKTHROUGH, re.DOTALL)
    assert shown is not None
    result = shell(shown.group(1), project)
    assert result.returncode == 2
    assert result.stderr == shown.group(2)
