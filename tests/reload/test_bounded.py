"""A reload is bounded as a whole by app.watch.reload_timeout, and a stop during one is prompt.

Work that overruns (a change callback that swallows its cancellation, a component module whose
import never returns, a restart slower than the time left) is cut off at the deadline and
abandoned, not awaited: the change is rejected, the last good config keeps running, later
edits still apply, and SIGTERM still stops the process.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.testing import RunningApp, edit_and_wait, run_app, write_tree
from tests.reload.conftest import component

FIXTURE_MODULE = '''
import asyncio


async def ignoring_cancellation(seconds):
    """Sleep, swallowing every cancellation meanwhile (as careless code does)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass


class Stubborn:
    config_schema = {
        "value": {"type": "integer", "default": 0},
        "stubborn": {"type": "boolean", "default": False},
        "slow_start": {"type": "number", "default": 0, "reload": "restart"},
    }

    def __init__(self, config, logger, name):
        self.config, self.log, self.name = config, logger, name

    async def start(self):
        await asyncio.sleep(self.config["slow_start"])
        self.log.bind(event="fx.started", config=dict(self.config)).info("started")

    async def stop(self):
        self.log.bind(event="fx.stopped").info("stopped")

    async def on_config_change(self, config, changed):
        if config["stubborn"]:
            self.log.bind(event="fx.changing").info("changing, stubbornly")
            await ignoring_cancellation(3600)
        self.config = config
        self.log.bind(event="fx.observed", config=dict(config)).info("observed")
'''

HANGING_MODULE = '''
import time

time.sleep(3600)  # an import that never returns: a thread that nothing can interrupt


class Never:
    pass
'''


def config(reload_timeout: float) -> str:
    return f"""\
defaults:
  - components/alpha
  - _self_

app:
  name: bounded
  env_prefix: BX
  allowed_packages: [rx]
  start_timeout: 10
  stop_timeout: 2
  watch:
    step_ms: 20
    settle_ms: 60
    reload_timeout: {reload_timeout}
"""


def alpha(**values: object) -> str:
    return component("alpha", "rx.Stubborn", **values)


def project(root: Path, reload_timeout: float) -> Path:
    write_tree(
        root,
        {
            "rx/__init__.py": FIXTURE_MODULE,
            "rx/hanging.py": HANGING_MODULE,
            "conf/config.yaml": config(reload_timeout),
            "conf/components/alpha.yaml": alpha(value=1),
        },
    )
    return root


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, Path]]:
    root = project(tmp_path_factory.mktemp("bounded"), reload_timeout=1)
    with run_app(cwd=root) as running:
        yield running, root / "conf"


def recovers(running: RunningApp, conf: Path, value: int) -> None:
    """A good edit after the bad one still applies, and alpha takes it."""
    line = edit_and_wait(running, lambda: (conf / "components/alpha.yaml").write_text(alpha(value=value)))
    assert line["event"] == "config.reloaded", line
    observed = running.wait_for(lambda e: e.get("event") in ("fx.observed", "fx.started"))
    assert observed["config"]["value"] == value


def test_a_callback_that_swallows_its_cancellation_is_abandoned(app: tuple[RunningApp, Path]) -> None:
    running, conf = app
    line = edit_and_wait(
        running, lambda: (conf / "components/alpha.yaml").write_text(alpha(value=2, stubborn="true"))
    )
    assert line["event"] == "config.rejected", line
    assert line["reasons"][0] == (
        "component 'alpha': on_config_change did not finish within 1 s (app.watch.reload_timeout)"
    )
    recovers(running, conf, 3)


def test_a_component_module_whose_import_never_returns_is_abandoned(app: tuple[RunningApp, Path]) -> None:
    running, conf = app
    gamma = conf / "components/gamma.yaml"
    line = edit_and_wait(
        running,
        lambda: (
            gamma.write_text(component("gamma", "rx.hanging.Never")),
            (conf / "config.yaml").write_text(config(1).replace("  - _self_", "  - components/gamma\n  - _self_")),
        ),
    )
    assert line["event"] == "config.rejected", line
    assert line["reasons"] == [
        "reading, composing and checking the new config did not finish within 1 s"
        " (app.watch.reload_timeout); it was abandoned"
    ]
    (conf / "config.yaml").write_text(config(1))
    gamma.unlink()
    recovers(running, conf, 4)


def test_a_restart_slower_than_the_time_left_is_undone(app: tuple[RunningApp, Path]) -> None:
    """The deadline bounds stops and starts too, not only change callbacks."""
    running, conf = app
    line = edit_and_wait(
        running, lambda: (conf / "components/alpha.yaml").write_text(alpha(value=5, slow_start=3))
    )
    assert line["event"] == "config.rejected", line
    assert line["reasons"][0] == (
        "starting component 'alpha' did not finish within 1 s (app.watch.reload_timeout)"
    )
    restored = running.wait_for("fx.started")  # on the old config, after the cut-short start
    assert restored["config"]["slow_start"] == 0
    recovers(running, conf, 6)


def test_the_process_exits_though_abandoned_work_still_runs(app: tuple[RunningApp, Path]) -> None:
    """Runs last in this module: the callback and the import thread abandoned above still run."""
    running, _ = app
    assert running.stop() == 0
    assert running.events("app.stopped")


def test_sigterm_during_a_reload_stops_the_app(tmp_path: Path) -> None:
    """A reload that would run for minutes does not keep SIGTERM from stopping the app."""
    conf = project(tmp_path, reload_timeout=600) / "conf"
    with run_app(cwd=tmp_path) as running:
        position = running.mark()
        (conf / "components/alpha.yaml").write_text(alpha(value=2, stubborn="true"))
        running.wait_for("fx.changing", after=position)
        running.send(signal.SIGTERM)
        # Wait for the exit this one signal causes: stop() would send a second SIGTERM to an app
        # still stopping (the two merge only if both arrive before it runs), and a second signal
        # forces exit 130 by design.
        assert running.process.wait(15) == 0
        assert running.stop() == 0
        assert running.events("config.reload_abandoned", after=position)
        assert running.events("app.stopped", after=position)
        assert running.events("config.reloaded", after=position) == []
