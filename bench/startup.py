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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _apps import compare, make_app  # noqa: E402

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


def measure(root: Path, count: int) -> tuple[float, float]:
    conf = make_app(root, count)
    repeat = 5 if count <= 100 else 3
    ours = statistics.median(time_to_running(root) for _ in range(repeat))
    bare = statistics.median(time_bare_compose(conf) for _ in range(repeat))
    return ours, bare


def main() -> dict[str, object]:
    return compare("startup", 1.5, "to running", "bare hydra compose", measure)


if __name__ == "__main__":
    print(json.dumps(main()))
