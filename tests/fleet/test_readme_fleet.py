"""The README's "Many instances" section, run as it is written: three instances, one `fleet set`,
a canary that stops on a NACK, then status, history, unset and rollback.

Each command runs verbatim; only the fleet's name comes from the environment (a name of the
test's own), and each instance runs in a folder with its own copy of the shipped app.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from framework.testing import run_app
from tests.fleet.conftest import Fleet
from tests.readme import README, shown_output

pytestmark = [pytest.mark.redis, pytest.mark.timeout(150)]


def _section() -> str:
    return README.read_text().split("## Many instances\n", 1)[1].split("\n## ", 1)[0]


def _blocks(section: str, language: str) -> list[list[str]]:
    return [block.strip().splitlines() for block in re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)]


def _columns(line: str) -> list[str]:
    """What does not change from run to run: the instance, its answer and overlay version, and
    the detail with its time stamp and author left out; other lines as they are."""
    cells = line.split(None, 5)
    if len(cells) == 6 and cells[1] in ("ACK", "NACK"):
        detail = re.sub(r"\(set \S+ by \S+\)", "(set)", cells[5])
        return [cells[0], cells[1], cells[2], detail]
    return [line]


def test_the_many_instances_section_runs_as_written(fleet: Fleet) -> None:
    section = _section()
    launch, verbs = _blocks(section, "bash")
    export, *runs = launch
    key = re.fullmatch(r"export MARKET_FLEET_KEY=(\S+)", export).group(1)  # type: ignore[union-attr]
    env = {"MARKET_FLEET_KEY": key, "MARKET__FLEET__NAME": fleet.name}
    for line in runs:
        words = shlex.split(line)
        assert words[:2] == ["integrate", "run"], line
        instance = next(w for w in words if w.startswith("fleet.instance=")).split("=", 1)[1]
        app = run_app(*words[2:], cwd=fleet.folder(instance), env=env)
        fleet.instances[instance] = app
    fleet.wait_members("a", "b", "c")
    shown = [line[2:] for line in re.findall(r"^\$ integrate fleet set .+$", section, re.MULTILINE)]
    assert len(shown) == 2
    for command, code in zip(shown, (0, 1), strict=True):
        result = _integrate(command, fleet, env)
        assert result.returncode == code, result.stdout + result.stderr
        expected = [_columns(line) for line in shown_output(command) if "MS" not in line.split()]
        actual = [_columns(line) for line in result.stdout.splitlines() if "MS" not in line.split()]
        assert actual == expected
    for command in verbs:
        result = _integrate(command, fleet, env)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    assert fleet.members()["b"]["overlay_version"] >= 1


def _integrate(command: str, fleet: Fleet, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    words = shlex.split(command)
    assert words[0] == "integrate", command
    return subprocess.run([sys.executable, "-m", "framework", *words[1:]], cwd=fleet.folder("controller"),
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
