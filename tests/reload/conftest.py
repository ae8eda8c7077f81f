"""A fixture app for reload tests: components that log what they observe, in their own package."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURE_MODULE = '''
import asyncio


def plain(config):
    return {k: v for k, v in config.items() if k != "token"}


class Still:
    """Logs its config at start and stop; has no on_config_change, so a change restarts it."""

    version = "1.0.0"
    config_schema = {
        "value": {"type": "integer", "default": 0},
        "label": {"type": "string", "default": "x"},
        "mode": {"type": "string", "default": "a", "reload": "restart"},
        "pinned": {"type": "string", "default": "p", "reload": "never"},
        "refuse": {"type": "boolean", "default": False},
        "hang": {"type": "boolean", "default": False},
        "delay": {"type": "number", "default": 0},
        "fail_start": {"type": "boolean", "default": False},
        "token": {"type": "string", "nullable": True, "default": None, "secret": True},
    }

    def __init__(self, config, logger, name):
        self.config, self.log, self.name = config, logger, name

    async def start(self):
        if self.config["fail_start"]:
            raise RuntimeError(f"{self.name} cannot start with fail_start")
        self.log.bind(event="fx.started", config=plain(self.config)).info(
            f"observed config at start {plain(self.config)}")

    async def stop(self):
        self.log.bind(event="fx.stopped", config=plain(self.config)).info("stopped")


class Observer(Still):
    """Takes live changes; refuses, hangs or dawdles when its new config says so."""

    async def on_config_change(self, config, changed):
        if config["hang"]:
            await asyncio.sleep(3600)
        if config["delay"]:
            await asyncio.sleep(config["delay"])
        if config["refuse"]:
            raise ValueError("refusing this config")
        self.config = config
        self.log.bind(event="fx.observed", config=plain(config), changed=sorted(changed),
                      type=type(config).__name__).info(f"observed config {plain(config)}")


class Dependent(Observer):
    """Holds a reference to the component it depends on."""

    def __init__(self, config, logger, name, **dependencies):
        super().__init__(config, logger, name)
        self.dependencies = dependencies
'''

# reload_timeout is ten seconds, not one: on a loaded machine (a parallel run, CI) composing alone
# can take over a second, and these tests are not about the deadline; those that are set their own.
CONFIG = """\
defaults:
  - components/alpha
  - components/beta
  - _self_

app:
  name: reloading
  env_prefix: RX
  allowed_packages: [rx]
  start_timeout: 3
  stop_timeout: 2
  watch:
    step_ms: 20
    settle_ms: 60
    reload_timeout: 10.0
"""


def component(name: str, cls: str = "rx.Observer", depends_on: str = "", **config: object) -> str:
    """The YAML of one component option file, its config given as keyword arguments."""
    lines = [f"# @package components.{name}", f"class: {cls}"]
    if depends_on:
        lines.append(f"depends_on: [{depends_on}]")
    lines.append("config:" if config else "config: {}")
    lines += [f"  {key}: {value}" for key, value in config.items()]
    return "\n".join(lines) + "\n"


ALPHA = component("alpha", value=1, label="first")
BETA = component("beta", "rx.Dependent", "alpha", value=10)


def make_project(root: Path, **files: str) -> Path:
    """A project dir with package `rx` and conf/ holding config.yaml, alpha and beta (or `files`)."""
    tree = {
        "rx/__init__.py": FIXTURE_MODULE,
        "conf/config.yaml": CONFIG,
        "conf/components/alpha.yaml": ALPHA,
        "conf/components/beta.yaml": BETA,
    }
    tree.update({f"conf/{name.replace('__', '/')}.yaml": text for name, text in files.items()})
    for relative, text in tree.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)
