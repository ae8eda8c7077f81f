"""The watch of a running `integrate run` outlives what used to end it, silently.

A failure inside the watch (watchfiles dies on a file name it cannot decode) is logged, and
the watch starts again with a growing pause while it keeps failing; a config dir replaced
whole (`rm -rf conf && cp -r new conf`, a `mv` swap, a re-pointed symlink) is noticed, logged,
watched anew and reloaded. Before, each left the app running its old config, ignoring edits.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from framework.testing import RunningApp, edit_and_wait, run_app
from tests.reload.conftest import ALPHA, make_project


@dataclass
class Running:
    app: RunningApp
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    def set_value(self, value: int, timeout: float = 10.0) -> None:
        """Edit alpha's value in place; alpha observes it within ``timeout`` seconds."""
        self.app.seek(self.app.mark())
        (self.conf / "components/alpha.yaml").write_text(ALPHA.replace("value: 1", f"value: {value}"))
        self.observed(value, timeout)

    def observed(self, value: int, timeout: float = 10.0) -> None:
        line = self.app.wait_for(
            lambda e: e.get("event") == "fx.observed" and e["config"]["value"] == value, timeout
        )
        assert line["component"] == "alpha"

    def new_conf(self, value: int) -> Path:
        """A copy of conf/ beside it, alpha's value set to ``value``."""
        new = self.root / f"new{value}"
        shutil.copytree(self.conf, new)
        (new / "components/alpha.yaml").write_text(ALPHA.replace("value: 1", f"value: {value}"))
        return new

    def replaced(self, replace: object, value: int) -> None:
        """After ``replace()`` swaps in a conf with alpha at ``value``: the swap is logged, the new
        files apply, and an edit to them (only a watch of the new dir sees it) applies too."""
        position = self.app.mark()
        line = edit_and_wait(self.app, replace)  # type: ignore[arg-type]
        assert line["event"] == "config.reloaded", line
        self.observed(value)
        self.set_value(value + 1)
        restarted = self.app.wait_for("config.watch_restarted", after=position)
        assert restarted["message"].startswith(f"config dir {self.conf} was replaced or removed; watching")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = make_project(tmp_path_factory.mktemp("survives"))
    with run_app(cwd=root) as app:
        running = Running(app, root)
        running.set_value(2)  # the watch is up
        yield running


def test_a_failure_inside_the_watch_is_logged_and_the_watch_goes_on(running: Running) -> None:
    """watchfiles raises on a file name that is not UTF-8: each failure is logged with its
    reason, the watch starts again after a doubling pause, and edits still apply meanwhile."""
    odd = running.conf / os.fsdecode(b"notes-\xff.yaml")
    position = running.app.mark()
    odd.write_text("x: 1\n")
    try:
        failed = running.app.wait_for("config.watch_failed", after=position)
        assert failed["message"].startswith(f"watching {running.conf} failed (")
        assert "Unable to decode path" in failed["message"]
        running.set_value(21, timeout=15)  # found by the next watch's first hash
        running.app.wait_for(lambda e: e.get("event") == "config.watch_failed" and e["failures"] >= 3)
        pauses = [e["retry_in"] for e in running.app.events("config.watch_failed", after=position)]
        assert pauses[:3] == [0.1, 0.2, 0.4]
    finally:
        odd.unlink()
    running.set_value(22, timeout=15)  # the name is gone: the next watch lasts
    running.set_value(23, timeout=2)  # and sees edits as they happen


def test_config_dir_removed_and_copied_anew(running: Running) -> None:
    """`rm -rf conf && cp -r new conf` is noticed: logged, the new files applied and watched."""
    new = running.new_conf(30)

    def replace() -> None:
        shutil.rmtree(running.conf)
        shutil.copytree(new, running.conf)

    running.replaced(replace, 30)


def test_config_dir_swapped_by_rename(running: Running) -> None:
    """A new dir renamed into place (the old one renamed away) is watched instead of the old."""
    new = running.new_conf(40)

    def swap() -> None:
        os.rename(running.conf, running.root / "old40")
        os.rename(new, running.conf)

    running.replaced(swap, 40)
    (running.root / "old40/components/alpha.yaml").write_text(ALPHA.replace("value: 1", "value: 49"))
    running.set_value(42)  # the old dir's edit never applied
    assert all(e["config"]["value"] != 49 for e in running.app.events("fx.observed"))


def test_config_dir_symlink_pointed_elsewhere(tmp_path: Path) -> None:
    """`conf` as a symlink to a release dir, re-pointed to the next release, is watched anew."""
    root = make_project(tmp_path)
    os.rename(root / "conf", root / "release1")
    (root / "conf").symlink_to("release1")
    with run_app(cwd=root) as app:
        running = Running(app, root)
        running.set_value(2)  # the watch is up
        release2 = running.new_conf(50)

        def repoint() -> None:
            (root / "conf.next").symlink_to(release2.name)
            os.replace(root / "conf.next", root / "conf")

        running.replaced(repoint, 50)


def test_sigterm_stops_the_app_with_a_fifo_in_the_config_dir(tmp_path: Path) -> None:
    """A FIFO appearing in the config dir neither blocks the watch nor a graceful stop."""
    root = make_project(tmp_path)
    with run_app(cwd=root) as app:
        running = Running(app, root)
        os.mkfifo(running.conf / "components/pipe.yaml")
        running.set_value(60)
        assert app.stop(timeout=10) == 0  # SIGTERM; a stop that hangs is killed (-9)
