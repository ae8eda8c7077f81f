"""The README's "The module registry" section, run as it is written, on SQLite and on PostgreSQL:
the registry, the publisher's and admin's commands, acme's app, the install, and the endpoint.

Each command runs verbatim in a folder holding copies of what it names (the shipped conf/, the
registry's conf/ and examples/echo-module), with the virtualenv's commands first on PATH; on
PostgreSQL the environment names a fresh database of the test's own (the command stays as shown).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from framework.testing import run_app
from tests.health.apps import wait_for
from tests.readme import README, shown_output
from tests.registry.servers import fresh_database, require_postgres

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]
HELLO = "curl -s http://127.0.0.1:8081/modules/echo-module/hello"


def _bash_blocks() -> list[list[str]]:
    section = README.read_text().split("## The module registry\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)]


def _workdir(root: Path) -> Path:
    shutil.copytree(REPO / "conf", root / "conf")
    shutil.copytree(REPO / "module_registry" / "conf", root / "module_registry" / "conf")
    shutil.copytree(REPO / "examples" / "echo-module", root / "examples" / "echo-module",
                    ignore=shutil.ignore_patterns("build", "*.egg-info"))
    return root


def _bash(lines: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + "\n".join(lines)
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _run_section(workdir: Path, registry_line: str, extra_env: dict[str, str]) -> None:
    start_registry, _postgres, publish, start_app, install = _bash_blocks()
    secret = re.fullmatch(r"export REGISTRY_JWT_SECRET=(\S+)", start_registry[0]).group(1)  # type: ignore[union-attr]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "REGISTRY_JWT_SECRET": secret, **extra_env}
    registry = run_app(*shlex.split(registry_line)[2:], cwd=workdir, env=env, ready="registry.started", timeout=60)
    with registry:
        published = _bash(publish, workdir, env)
        assert published.returncode == 0, published.stdout + published.stderr
        token = _bash([start_app[0], 'printf %s "$MARKET__MODULES__TOKEN"'], workdir, env).stdout
        assert token.count(".") == 2, "a JWT"
        env["MARKET__MODULES__TOKEN"] = token
        app = run_app(*shlex.split(start_app[1])[2:], cwd=workdir, env=env, timeout=60)
        with app:
            installed = _bash(install, workdir, env)
            assert installed.returncode == 0, installed.stdout + installed.stderr
            app.wait_for("echo.started", timeout=30)
            expected = "\n".join(shown_output(HELLO))
            wait_for(lambda: _bash([HELLO], workdir, env).stdout.strip() == expected, 15, "the module's endpoint")


def test_the_registry_section_runs_as_written_on_sqlite_and_postgres(tmp_path: Path) -> None:
    start_registry, postgres, *_ = _bash_blocks()
    assert len(start_registry) == 2 and len(postgres) == 1
    _run_section(_workdir(tmp_path / "sqlite"), start_registry[1], {})
    require_postgres()
    with fresh_database() as database:
        _run_section(_workdir(tmp_path / "postgres"), postgres[0],
                     {"REGISTRY__COMPONENTS__DATABASE__CONFIG__DATABASE": database})
