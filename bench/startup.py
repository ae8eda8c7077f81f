"""Process start to all components running, against a bare Hydra compose, in one run.

Both are timed as fresh processes (interpreter start-up included in both), each to the line
that says it is ready: `integrate run` to its `app.started` log line (all components running),
and a Python process that composes the same config dir with Hydra, resolves it and prints
`composed`. Stopping and interpreter teardown are left out of both. Apps of 10, 100 and 300
components. Goal: at most 1.5x (issue 18: at most 1.15x for 10 components).

Each contender's untimed warm-up start comes first: ours fills the app's composition cache
there, so the medians are of later starts, the start an app has from its second on.
"""

from __future__ import annotations

import compileall
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _apps import alternated_medians, compare, make_app  # noqa: E402

import framework  # noqa: E402

# Recorded before issue 18's change (the issue's table, this machine): the 10-component app.
BEFORE_RATIO_10 = 1.35
BEFORE_ISSUE_18: dict[str, object] = {
    "apps": {"10": {"ratio": BEFORE_RATIO_10}},
    "measured": "before the change, as recorded constants (issue 18)",
}

BARE = (
    "import sys\n"
    "from hydra import compose, initialize_config_dir\n"
    "from omegaconf import OmegaConf\n"
    "with initialize_config_dir(config_dir=sys.argv[1], version_base=None):\n"
    "    OmegaConf.to_container(compose('config'), resolve=True)\n"
    "print('composed', flush=True)\n"
)


def _time_to_line(command: list[str], cwd: Path, marker: str, stream: str, stop: bool) -> float:
    """Seconds from spawning ``command`` until it writes a line containing ``marker``.

    Both contenders are timed to the same milestone (configured, respectively running), not to
    their exit: shutting down and interpreter teardown are not part of starting.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        text=True,
    )
    pipe = process.stdout if stream == "stdout" else process.stderr
    assert pipe is not None
    seen = []
    for line in pipe:
        if marker in line:
            elapsed = time.perf_counter() - start
            break
        seen.append(line)
    else:
        process.wait()
        raise SystemExit(
            f"{command[2:4]} ended ({process.returncode}) before '{marker}':\n{''.join(seen[-20:])}"
        )
    if stop:  # ours runs until stopped; the bare compose ends by itself
        process.send_signal(signal.SIGTERM)
    for _ in pipe:  # keep draining so a chatty shutdown cannot block on a full pipe
        pass
    if process.wait(timeout=60) != 0:
        raise SystemExit(f"{command[2:4]} exited {process.returncode}")
    return elapsed


def time_to_running(root: Path) -> float:
    """`integrate run` until its JSON log says `app.started` (every component running)."""
    command = [sys.executable, "-m", "framework", "run", "--log-format", "json"]
    return _time_to_line(command, root, '"event": "app.started"', "stderr", stop=True)


def time_bare_compose(conf: Path) -> float:
    return _time_to_line(
        [sys.executable, "-c", BARE, str(conf.resolve())], conf.parent, "composed", "stdout", stop=False
    )


def compile_bytecode(*packages: Path) -> None:
    """Cache bytecode as an installed app has it.

    pip compiles site-packages at install, but an editable checkout and the generated app are
    compiled on first import, and not cached at all under PYTHONDONTWRITEBYTECODE (set on some
    machines): every timed start would then recompile ~40 modules.
    """
    for package in packages:
        compileall.compile_dir(package, quiet=1)


def measure(root: Path, count: int) -> tuple[float, float]:
    conf = make_app(root, count)
    compile_bytecode(Path(framework.__file__).parent, root / "benchapp")
    repeat = 15 if count <= 10 else 7 if count <= 100 else 3  # the small app is the noisiest
    return alternated_medians(lambda: time_to_running(root), lambda: time_bare_compose(conf), repeat)


def main() -> dict[str, object]:
    result = compare("startup", 1.5, "to running", "bare hydra compose", measure)
    print(f"before issue 18: 10 components {BEFORE_RATIO_10:.2f}x")
    return {**result, "before_issue_18": BEFORE_ISSUE_18}


if __name__ == "__main__":
    print(json.dumps(main()))
