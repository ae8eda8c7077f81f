"""Generated apps of N components, shared by the compose, startup and reload benchmarks."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

COMPONENT_MODULE = '''
class Worker:
    """A benchmark component: validated config, one optional dependency, trivial hooks."""

    version = "1.0.0"
    config_schema = {
        "rate": {"type": "number", "min": 0, "default": 1.0},
        "name": {"type": "string", "default": "w"},
        "tags": {"type": "list", "default": []},
    }

    def __init__(self, config, **dependencies):
        self.config = config
        self.dependencies = dependencies
        self.running = False

    async def start(self):
        self.running = True

    async def stop(self):
        self.running = False

    def on_config_change(self, config, changed):
        self.config = config
'''


def make_app(root: Path, count: int) -> Path:
    """A config dir with ``count`` component files; every tenth depends on the one before."""
    conf = root / "conf"
    (conf / "components").mkdir(parents=True, exist_ok=True)
    (root / "benchapp").mkdir(exist_ok=True)
    (root / "benchapp" / "__init__.py").write_text(COMPONENT_MODULE)
    defaults = "\n".join(f"  - components/c{i}" for i in range(count))
    (conf / "config.yaml").write_text(
        f"defaults:\n{defaults}\n  - _self_\n\n"
        "app:\n  name: bench\n  env_prefix: BENCH\n  allowed_packages: [benchapp]\n"
        "  watch:\n    step_ms: 10\n    settle_ms: 10\n"
    )
    for i in range(count):
        depends = f"depends_on: [c{i - 1}]\n" if i % 10 and i else ""
        (conf / "components" / f"c{i}.yaml").write_text(
            f"# @package components.c{i}\nclass: benchapp.Worker\n{depends}"
            f"config:\n  rate: {i}\n  name: worker-{i}\n  tags: [a, b]\n"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return conf


def bare_hydra_compose(conf: Path) -> None:
    """What a plain Hydra user pays: compose and resolve to plain data."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf.resolve()), version_base=None):
        OmegaConf.to_container(compose("config"), resolve=True)


def timed(action: Callable[[], object]) -> Callable[[], float]:
    """``action`` as a contender for ``alternated_medians``: returns the seconds it took."""

    def run() -> float:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start

    return run


def alternated_medians(ours: Callable[[], float], peer: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Median seconds of each contender (a callable returning the seconds it measured), run in
    turns so a busy spell on the machine hits both alike; one untimed warm-up run each first."""
    ours(), peer()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        samples[0].append(ours())
        samples[1].append(peer())
    return statistics.median(samples[0]), statistics.median(samples[1])


def compare(
    bench: str, goal: float, ours: str, peer: str, measure: Callable[[Path, int], tuple[float, float]]
) -> dict[str, object]:
    """Run ``measure(root, count) -> (ours_s, peer_s)`` on apps of 10, 100 and 300 components;
    print a line per app and return the JSON-ready figures with the worst ratio."""
    results: dict[str, dict[str, float]] = {}
    for count in (10, 100, 300):
        with tempfile.TemporaryDirectory() as tmp:
            ours_s, peer_s = measure(Path(tmp), count)
        results[str(count)] = {
            "ours_s": round(ours_s, 4),
            "peer_s": round(peer_s, 4),
            "ratio": round(ours_s / peer_s, 3),
        }
        print(
            f"{count:>4} components: {ours} {ours_s:8.3f} s   {peer} {peer_s:8.3f} s   ratio {ours_s / peer_s:.2f}x"
        )
    worst = max(r["ratio"] for r in results.values())
    return {
        "bench": bench,
        "ours": ours,
        "peer": peer,
        "goal_ratio": goal,
        "worst_ratio": worst,
        "apps": results,
    }
