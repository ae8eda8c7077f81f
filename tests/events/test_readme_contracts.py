"""The README's event-contract examples, run as written: the compatibility error a user sees
after adding the YAML requirement it shows, and the start of `integrate asyncapi`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.readme import README, shown_output

ROOT = Path(__file__).resolve().parents[2]


def _integrate(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "framework", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_the_compatibility_error_the_readme_shows(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    marker = "# conf/components/trader.yaml, below its config:\n"
    snippet = README.read_text().split(marker, 1)[1].split("```", 1)[0]
    with (tmp_path / "conf" / "components" / "trader.yaml").open("a") as trader:
        trader.write(snippet)
    done = _integrate(tmp_path, "check")
    assert done.returncode == 2
    assert done.stderr.splitlines() == shown_output("integrate check")


def test_the_asyncapi_output_the_readme_shows() -> None:
    done = _integrate(ROOT, "asyncapi", "--format", "yaml")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    position = 0
    for line in shown_output("integrate asyncapi --format yaml"):  # in this order, gaps allowed
        position = lines.index(line, position) + 1
