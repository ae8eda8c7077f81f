"""Start-up as instructions executed (valgrind's callgrind), against a bare Hydra compose.

    python bench/startup_instructions.py [COUNT ...]     (default: 10 components)

The same comparison as startup.py, counted instead of timed: an instruction count repeats
run after run whatever else the machine is doing, so it shows what a change saves even where
the wall-clock figures wander by a third. Ours: `integrate run` in process, ended (os._exit)
right after App.start returns (every component running; the health monitor's start included).
The peer: a bare Hydra compose and resolve, ended the same way. Both skip interpreter
teardown, and hash randomization is fixed so that both repeat exactly. Needs valgrind.

Ours is counted twice, with a composition cache of its own: the app's first start (the cache
empty: a full Hydra compose, which fills it) and a start after it (the config unchanged: the
composition comes from the cache), as every later start of the app is. The ratio is the later
start's, as startup.py's median is; ``ratio_first_start`` is the first's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _apps import make_app  # noqa: E402
from startup import compile_bytecode  # noqa: E402

import framework  # noqa: E402
from framework.config.compose_cache import CACHE_DIR_VARIABLE  # noqa: E402

# Recorded before issue 18's change: this benchmark at commit 46223a5, on this machine.
BEFORE_APPS: dict[str, dict[str, float]] = {"10": {"ours_minstr": 2078, "peer_minstr": 1354, "ratio": 1.534}}
BEFORE_ISSUE_18: dict[str, object] = {
    "apps": BEFORE_APPS,
    "measured": "before the change, as recorded constants (this benchmark at 46223a5)",
}

# framework.cli first, as `python -m framework` imports it: it imports loguru without the
# default handler that every verb replaces (framework.loguru_bare).
OURS = """
import os, sys
import framework.cli, framework.app

started = framework.app.App.start

async def start_then_exit(self):
    await started(self)
    sys.stderr.flush()
    os._exit(0)

framework.app.App.start = start_then_exit
framework.cli.main(["run", "--log-format", "json"])
"""

BARE = """
import os, sys
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
with initialize_config_dir(config_dir=os.path.abspath("conf"), version_base=None):
    OmegaConf.to_container(compose("config"), resolve=True)
os._exit(0)
"""


def instructions(code: str, cwd: Path) -> int:
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, "PYTHONHASHSEED": "0", CACHE_DIR_VARIABLE: str(cwd / "cache")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main(counts: list[int]) -> dict[str, object]:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    apps = {}
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            make_app(root, count)
            compile_bytecode(Path(framework.__file__).parent, root / "benchapp")
            first = instructions(OURS, root)  # fills the app's composition cache
            ours, bare = instructions(OURS, root), instructions(BARE, root)
        apps[str(count)] = {
            "ours_minstr": round(ours / 1e6),
            "peer_minstr": round(bare / 1e6),
            "ratio": round(ours / bare, 3),
            "ours_first_start_minstr": round(first / 1e6),
            "ratio_first_start": round(first / bare, 3),
        }
        print(
            f"{count:>4} components: to running {ours / 1e6:8.0f} M instructions"
            f"   bare hydra compose {bare / 1e6:8.0f} M   ratio {ours / bare:.2f}x"
            f"   (first start, cache empty: {first / 1e6:.0f} M, {first / bare:.2f}x)"
        )
        before = BEFORE_APPS.get(str(count))
        if before:
            print(f"      before issue 18: {before['ours_minstr']:8.0f} M instructions   ratio {before['ratio']:.2f}x")
    return {"bench": "startup_instructions", "goal_ratio": 1.5, "apps": apps, "before_issue_18": BEFORE_ISSUE_18}


if __name__ == "__main__":
    print(json.dumps(main([int(a) for a in sys.argv[1:]] or [10])))
