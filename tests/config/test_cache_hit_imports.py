"""A start-up whose composition is a cache hit imports neither Hydra nor OmegaConf.

Each start is a fresh process on the benchmark's 10-component app, after one that filled the
cache: `integrate check`, `integrate run` until its `app.started` line, and `load_config` of
the public API. What a process imported is read from Python's own record of it (`-X importtime`
on stderr, `sys.modules` in process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.config.compose_cache import CACHE_DIR_VARIABLE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _apps import make_app  # noqa: E402

HEAVY = ("hydra", "omegaconf", "antlr4")  # antlr4: the grammar runtime both of them parse with

LOAD = """
import json, sys
from pathlib import Path
import framework
snapshot = framework.load_config(framework.ConfigSource(Path(sys.argv[1])))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"heavy": heavy, "c9": snapshot.get("components.c9.config.name")}}))
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The benchmark's app, its cache filled by one `integrate check` (a full Hydra compose)."""
    root = tmp_path / "app"
    make_app(root, 10)
    env = {**os.environ, CACHE_DIR_VARIABLE: str(tmp_path / "cache"), "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-m", "framework", "check"], cwd=root, env=env, check=True, capture_output=True)
    yield root, env


def imported(importtime: str) -> list[str]:
    """The heavy packages' modules named in ``-X importtime`` lines."""
    names = [line.rsplit("|", 1)[-1].strip() for line in importtime.splitlines() if line.startswith("import time:")]
    return [name for name in names if name.split(".")[0] in HEAVY]


def test_check_from_the_cache_imports_no_hydra(app: tuple[Path, dict[str, str]]) -> None:
    """`integrate check` of an unchanged app is answered from the cache without Hydra or OmegaConf."""
    root, env = app
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "framework", "check"], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "10 components" in done.stdout
    assert "import time:" in done.stderr  # the record is there to read
    assert imported(done.stderr) == []


def test_run_from_the_cache_starts_without_hydra(app: tuple[Path, dict[str, str]]) -> None:
    """`integrate run` reaches app.started (every component running) without Hydra or OmegaConf."""
    root, env = app
    command = [sys.executable, "-X", "importtime", "-m", "framework", "run", "--log-format", "json"]
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    before = []
    try:
        for line in process.stderr:
            if '"event": "app.started"' in line:
                break
            before.append(line)
        else:
            pytest.fail(f"integrate run ended before app.started:\n{''.join(before[-30:])}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert any(line.startswith("import time:") for line in before)
    assert imported("".join(before)) == []


def test_load_config_from_the_cache_imports_no_hydra(app: tuple[Path, dict[str, str]]) -> None:
    """The public ``load_config`` gives the same values from the cache, without Hydra or OmegaConf;
    with the cache turned off the same call composes with Hydra."""
    root, env = app
    command = [sys.executable, "-c", LOAD.format(heavy=HEAVY), str(root / "conf")]
    warm = json.loads(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)
    cold_env = {**env, CACHE_DIR_VARIABLE: ""}
    cold = json.loads(subprocess.run(command, env=cold_env, capture_output=True, text=True, check=True).stdout)
    assert warm == {"heavy": [], "c9": "worker-9"}
    assert cold["c9"] == "worker-9" and "hydra" in cold["heavy"]
