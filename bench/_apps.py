"""Generated apps of N components, shared by the compose, startup and reload benchmarks."""

from __future__ import annotations

import statistics
import sys
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


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    action()  # warm caches and imports
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
