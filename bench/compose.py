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
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _apps import bare_hydra_compose, make_app, median_seconds  # noqa: E402

from framework.cli import main  # noqa: E402


def integrate_check(conf: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", "--config-dir", str(conf)])
    if code != 0:
        raise SystemExit(f"integrate check failed with exit code {code}")


def run() -> dict[str, object]:
    results: dict[str, object] = {}
    for count in (10, 100, 300):
        with tempfile.TemporaryDirectory() as tmp:
            conf = make_app(Path(tmp), count)
            os.chdir(tmp)
            repeat = 15 if count <= 100 else 5
            hydra = median_seconds(lambda conf=conf: bare_hydra_compose(conf), repeat)
            ours = median_seconds(lambda conf=conf: integrate_check(conf), repeat)
        results[str(count)] = {
            "check_ms": round(ours * 1000, 1),
            "hydra_ms": round(hydra * 1000, 1),
            "ratio": round(ours / hydra, 3),
        }
        print(
            f"{count:>4} components: integrate check {ours * 1000:8.1f} ms   "
            f"bare hydra compose {hydra * 1000:8.1f} ms   ratio {ours / hydra:.2f}x"
        )
    worst = max(r["ratio"] for r in results.values())  # type: ignore[index]
    return {"bench": "compose", "goal_ratio": 1.3, "worst_ratio": worst, "apps": results}


if __name__ == "__main__":
    print(json.dumps(run()))
