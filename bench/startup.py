"""Process start to all components running, against a bare Hydra compose, in one run.

Both are timed as fresh processes (interpreter start-up included in both): `integrate run`
until its `app.started` log line, and a Python process that composes the same config dir
with Hydra and resolves it. Apps of 10, 100 and 300 components. Goal: at most 1.5x.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _apps import make_app  # noqa: E402

BARE = (
    "import sys\n"
    "from hydra import compose, initialize_config_dir\n"
    "from omegaconf import OmegaConf\n"
    "with initialize_config_dir(config_dir=sys.argv[1], version_base=None):\n"
    "    OmegaConf.to_container(compose('config'), resolve=True)\n"
)


def time_to_running(root: Path) -> float:
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "framework",
            "run",
            "--log-format",
            "json",
            "app.duration=0",
            "logging.level=WARNING",
        ],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # At WARNING level nothing is logged: the process ends right after all are running
    # (duration 0) and stopping 300 trivial components takes well under a millisecond each.
    process.communicate(timeout=300)
    if process.returncode != 0:
        raise SystemExit(f"integrate run failed ({process.returncode})")
    return time.perf_counter() - start


def time_bare_compose(conf: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", BARE, str(conf.resolve())], check=True, timeout=300)
    return time.perf_counter() - start


def main() -> dict[str, object]:
    results: dict[str, object] = {}
    for count in (10, 100, 300):
        with tempfile.TemporaryDirectory() as tmp:
            conf = make_app(Path(tmp), count)
            repeat = 5 if count <= 100 else 3
            ours = statistics.median(time_to_running(Path(tmp)) for _ in range(repeat))
            bare = statistics.median(time_bare_compose(conf) for _ in range(repeat))
        results[str(count)] = {
            "run_s": round(ours, 3),
            "bare_compose_s": round(bare, 3),
            "ratio": round(ours / bare, 3),
        }
        print(
            f"{count:>4} components: to running {ours:7.3f} s   bare hydra compose {bare:7.3f} s"
            f"   ratio {ours / bare:.2f}x"
        )
    worst = max(r["ratio"] for r in results.values())  # type: ignore[index]
    return {"bench": "startup", "goal_ratio": 1.5, "worst_ratio": worst, "apps": results}


if __name__ == "__main__":
    print(json.dumps(main()))
