"""The shipped app run from a project folder holding files named like modules it imports.

Neither the working directory nor `app.component_dirs` may shadow the standard library or an
installed package, and a file there runs only when a component's class names it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from framework.testing import integrate, write_tree

REPO = Path(__file__).resolve().parents[2]
# Standard modules the app imports after start-up, and optional ones libraries probe for.
SHADOWS = ("sqlite3", "json", "uuid", "random", "csv", "httptools", "orjson", "ujson")
EXTRA = """
class Extra:
    def __init__(self, logger):
        self.log = logger

    def start(self):
        self.log.info("extra started")

    def stop(self):
        pass
"""
OVERRIDES = ("app.component_dirs=[plugins]", "+components.extra.class=extra.Extra", "http.port=0")


@pytest.mark.parametrize("folder", [".", "plugins"], ids=["working-dir", "component-dir"])
def test_files_named_like_imported_modules_never_run(tmp_path: Path, folder: str) -> None:
    """`sqlite3.py`, `json.py`, ... in the working dir or a component dir: `integrate check` and
    `integrate run` never import them, the app runs, and the component dir's real class resolves."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    write_tree(tmp_path / "plugins", {"extra.py": EXTRA})
    write_tree(
        tmp_path / folder,
        {f"{name}.py": "from pathlib import Path\nPath(__file__).with_suffix('.ran').touch()\n" for name in SHADOWS},
    )
    check = integrate("check", *OVERRIDES, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    db = tmp_path / "m.sqlite3"
    run = integrate(
        "run", "--log-format", "json", "profile=fast", "app.duration=1.5",
        f"components.storage.config.path={db}", *OVERRIDES, cwd=tmp_path, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    running = {e.get("component") for e in events if e.get("event") == "component.running"}
    assert {"storage", "extra", "trader"} <= running
    assert db.is_file()
    assert sorted(p.name for p in tmp_path.rglob("*.ran")) == []
