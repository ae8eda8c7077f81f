"""`integrate check` against a bare Hydra compose of the same config dir, in one run.

Both run in this process (interpreter start-up is the same for both and left out), on apps of
10, 100 and 300 component files. Goal: framework overhead at most 1.3x the bare compose; issue
18: at most 0.10x at 300 files.

``ours`` is a check of an unchanged config dir, as every check and start-up after the first
one: the composition comes from the cache (``INTEGRATE_CACHE_DIR``, a temporary dir here).
``edited`` is a check right after one component file's value was edited (the entry re-merges
that file). ``cold`` is a check with an empty cache (a full Hydra compose that keeps its
entry), as after an edit of a defaults list. The contenders run in turns, so a busy spell on the
machine hits all of them alike.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _apps import bare_hydra_compose, compare, make_app, timed  # noqa: E402

from framework.cli import main  # noqa: E402
from framework.config.compose_cache import CACHE_DIR_VARIABLE  # noqa: E402

# Measured with this script at 46223a5, before the composition cache, on this machine: the
# issue's "now" figure (0.26x at 300 files).
BEFORE_ISSUE_18 = {
    "10": {"ours_s": 0.0733, "peer_s": 0.0643, "ratio": 1.14},
    "100": {"ours_s": 0.3173, "peer_s": 0.556, "ratio": 0.571},
    "300": {"ours_s": 0.8763, "peer_s": 3.3255, "ratio": 0.264},
}
COLD: dict[str, dict[str, float]] = {}


def integrate_check(conf: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", "--config-dir", str(conf)])
    if code != 0:
        raise SystemExit(f"integrate check failed with exit code {code}")


def cold_check(conf: Path, cache: Path) -> None:
    shutil.rmtree(cache, ignore_errors=True)
    integrate_check(conf)


def edited_check(conf: Path, count: int) -> float:
    """Seconds of a check right after one component file's value was edited (the edit untimed)."""
    edited = conf / "components" / f"c{count // 2}.yaml"
    text = edited.read_text()
    before, after = ("[a, b, c]", "[a, b]") if "[a, b, c]" in text else ("[a, b]", "[a, b, c]")
    edited.write_text(text.replace(before, after))
    return timed(lambda: integrate_check(conf))()


def measure(root: Path, count: int) -> tuple[float, float]:
    conf = make_app(root, count)
    cache = Path(tempfile.mkdtemp(prefix="compose-cache-"))
    os.environ[CACHE_DIR_VARIABLE] = str(cache)
    os.chdir(root)
    repeat = 15 if count <= 100 else 5
    contenders = (
        timed(lambda: cold_check(conf, cache)),
        timed(lambda: integrate_check(conf)),  # right after the cold one: its entry is there
        lambda: edited_check(conf, count),
        timed(lambda: bare_hydra_compose(conf)),
    )
    samples: list[list[float]] = [[], [], [], []]
    for run in range(repeat + 1):  # the first round is the untimed warm-up
        for contender, kept in zip(contenders, samples, strict=True):
            seconds = contender()
            if run:
                kept.append(seconds)
    cold, ours, edited, hydra = (statistics.median(s) for s in samples)
    COLD[str(count)] = {
        "cold_s": round(cold, 4), "cold_ratio": round(cold / hydra, 3),
        "edited_s": round(edited, 4), "edited_ratio": round(edited / hydra, 3),
    }
    print(f"{count:>4} components: integrate check with an empty cache {cold:8.3f} s   ratio {cold / hydra:.2f}x")
    print(f"{count:>4} components: integrate check after a value edit  {edited:8.3f} s   ratio {edited / hydra:.2f}x")
    os.chdir("/")
    shutil.rmtree(cache, ignore_errors=True)
    del os.environ[CACHE_DIR_VARIABLE]
    return ours, hydra


def run() -> dict[str, object]:
    result = compare("compose", 1.3, "integrate check", "bare hydra compose", measure)
    apps: dict[str, dict[str, float]] = result["apps"]  # type: ignore[assignment]
    for count, figures in apps.items():
        figures.update(COLD[count])
    after = apps["300"]["ratio"]
    return {
        **result,
        "goal_issue_18": {"300": 0.10},
        "before_issue_18": {"note": "measured before the composition cache (46223a5)", "apps": BEFORE_ISSUE_18},
        "after_issue_18_ratio_300": after,
        "speedup_vs_hydra_300": round(1 / after, 1),
    }


if __name__ == "__main__":
    print(json.dumps(run()))
