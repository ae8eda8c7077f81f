"""`integrate check` against a bare Hydra compose of the same config dir, in one run.

Both run in this process (interpreter start-up is the same for both and left out), on apps of
10, 100 and 300 component files. Goal: framework overhead at most 1.3x the bare compose.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _apps import alternated_medians, bare_hydra_compose, compare, make_app, timed  # noqa: E402

from framework.cli import main  # noqa: E402


def integrate_check(conf: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", "--config-dir", str(conf)])
    if code != 0:
        raise SystemExit(f"integrate check failed with exit code {code}")


def measure(root: Path, count: int) -> tuple[float, float]:
    conf = make_app(root, count)
    os.chdir(root)
    repeat = 15 if count <= 100 else 5
    ours, hydra = alternated_medians(
        timed(lambda: integrate_check(conf)), timed(lambda: bare_hydra_compose(conf)), repeat
    )
    os.chdir("/")
    return ours, hydra


def run() -> dict[str, object]:
    return compare("compose", 1.3, "integrate check", "bare hydra compose", measure)


if __name__ == "__main__":
    print(json.dumps(run()))
