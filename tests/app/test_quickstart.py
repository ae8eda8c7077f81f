"""The README's two quick-start commands work, as written, in a fresh copy of the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_exactly_two_quick_start_commands() -> None:
    """One command installs and runs the app, one installs and runs the tests."""
    commands = quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert "integrate run" in commands[0] and "pytest" in commands[1]
    assert "python -m pytest" in (REPO / ".ci" / "run").read_text().split("\n")[-2]


@pytest.mark.timeout(900)  # two fresh virtualenvs: pip alone can take minutes on a busy machine
def test_quick_start_commands_run_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """Both commands succeed in a clean checkout: the app trades, the tests pass."""
    tracked = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    checkout = tmp_path / "checkout"
    for relative in tracked:
        if (REPO / relative).is_file():
            (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / relative, checkout / relative)
    install_and_run, install_and_test = quick_start_commands()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST"))}
    # The app runs until Ctrl-C; the env layer bounds it, as a user could.
    app = subprocess.run(
        ["bash", "-c", install_and_run],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=600,
        env={**env, "MARKET__APP__DURATION": "4", "MARKET__PROFILE": "fast"},
    )
    assert app.returncode == 0, app.stderr[-3000:]
    assert "trade " in app.stderr and "all components stopped" in app.stderr
    tests = subprocess.run(
        ["bash", "-c", install_and_test],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=600,
        env={**env, "PYTEST_ADDOPTS": "-k test_plain_hydra_dir_matches_hydra_compose"},
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "1 passed" in tests.stdout
