"""Every bad edit is rejected with its reason while the app keeps its last good config.

One `integrate run` serves the module: each test makes its bad edit, checks the rejection and
that nothing changed, then makes a good edit that must still apply.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from framework.errors import SHOWN_PROBLEMS
from framework.testing import RunningApp, edit_and_wait, run_app
from tests.reload.conftest import ALPHA, BETA, CONFIG, component, make_project


@dataclass
class Running:
    app: RunningApp
    conf: Path
    values: Iterator[int]

    def file(self, relative: str) -> Path:
        return self.conf / relative

    def rejected(self, edit: Callable[[], object]) -> dict:
        """Make a bad edit; assert it is rejected and that no component saw anything."""
        position = self.app.mark()
        line = edit_and_wait(self.app, edit)
        assert line["event"] == "config.rejected", line
        assert line["outcome"] == "rejected" and line["reasons"]
        assert line["message"].startswith("config change rejected; still running v")
        time.sleep(0.1)  # anything a component did would be logged by now
        before = {e["component"]: e["config"] for e in self.app.lines[:position] if "config" in e}
        after = [(e["component"], e["config"]) for e in self.app.lines[position:] if "config" in e]
        assert all(config == before[name] for name, config in after)  # only ever the old config
        return line

    def regular_again(self, relative: str) -> None:
        """Put a regular file holding the good config in place of a special one, at once."""
        good = self.conf / "good.tmp"
        good.write_text({"components/alpha.yaml": ALPHA, "components/beta.yaml": BETA}[relative])
        line = edit_and_wait(self.app, lambda: os.replace(good, self.file(relative)))
        assert line["event"] == "config.reloaded", line

    def recovers(self) -> None:
        """Restore the good files with a new alpha value; it applies and alpha observes it."""
        value = next(self.values)

        def restore() -> None:
            self.file("config.yaml").write_text(CONFIG)
            self.file("components/beta.yaml").write_text(BETA)
            self.file("components/alpha.yaml").write_text(ALPHA.replace("value: 1", f"value: {value}"))

        line = edit_and_wait(self.app, restore)
        assert line["event"] == "config.reloaded", line
        observed = self.app.wait_for(
            lambda e: e.get("event") in ("fx.observed", "fx.started") and e["component"] == "alpha"
        )
        assert observed["config"]["value"] == value


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = make_project(tmp_path_factory.mktemp("bad"))
    with run_app(cwd=root) as app:
        yield Running(app, root / "conf", itertools.count(1000))


@pytest.fixture
def hurried(tmp_path: Path) -> Iterator[Running]:
    """An app of its own whose reloads have one second (the module's have the suite's ten)."""
    root = make_project(tmp_path)
    with run_app("app.watch.reload_timeout=1", cwd=root) as app:
        yield Running(app, root / "conf", itertools.count(1000))


def test_invalid_yaml(running: Running) -> None:
    """Invalid YAML is rejected naming the file and line."""
    line = running.rejected(lambda: running.file("components/alpha.yaml").write_text(ALPHA + "  x: [1,\n"))
    assert "invalid YAML at" in line["reasons"][0] and "components/alpha.yaml:" in line["reasons"][0]
    running.recovers()


def test_schema_violation(running: Running) -> None:
    """A value of the wrong type is rejected with the key, the value and its file:line."""
    line = running.rejected(
        lambda: running.file("components/alpha.yaml").write_text(ALPHA.replace("value: 1", "value: lots"))
    )
    assert line["reasons"] == [
        "components.alpha.config.value: must be of type integer (got 'lots') [conf/components/alpha.yaml:4]"
    ]
    running.recovers()


def test_unknown_key(running: Running) -> None:
    """A misspelt key is rejected with a suggestion."""
    line = running.rejected(lambda: running.file("components/alpha.yaml").write_text(ALPHA + "  valeu: 3\n"))
    assert "components.alpha.config.valeu: unknown key; did you mean 'value'?" in line["reasons"][0]
    assert "[conf/components/alpha.yaml:6]" in line["reasons"][0]
    running.recovers()


def test_many_unknown_keys_give_a_bounded_reason_list(running: Running) -> None:
    """An edit adding 150 unknown keys is rejected with the first problems and an exact count of
    the rest: the reasons go into a log line, a bus event and the reload history, all bounded."""
    extra = "".join(f"  unknown_{i:03}: {i}\n" for i in range(150))
    line = running.rejected(lambda: running.file("components/alpha.yaml").write_text(ALPHA + extra))
    reasons = line["reasons"]
    assert len(reasons) == SHOWN_PROBLEMS + 1
    assert reasons[-1] == f"... and {150 - SHOWN_PROBLEMS} more problems"
    assert reasons[0].startswith("components.alpha.config.unknown_000: unknown key")
    assert reasons[0].endswith("(got 0) [conf/components/alpha.yaml:6]")
    assert line["message"].endswith(f"; ... and {150 - SHOWN_PROBLEMS} more problems")
    running.recovers()


def test_deleted_file(running: Running) -> None:
    """Deleting a file the defaults list names is rejected; recreating it applies again."""
    line = running.rejected(lambda: running.file("components/beta.yaml").unlink())
    assert "Could not load 'components/beta'" in line["reasons"][0]
    running.recovers()


def test_emptied_file(running: Running) -> None:
    """An emptied file is rejected as empty, not read as a missing section."""
    line = running.rejected(lambda: running.file("components/alpha.yaml").write_text(""))
    assert "components/alpha.yaml: the file is empty" in line["reasons"][0]
    running.recovers()


def test_defaults_list_names_missing_option(running: Running) -> None:
    """A defaults list entry with no such file is rejected, naming the entry."""
    line = running.rejected(
        lambda: running.file("config.yaml").write_text(
            CONFIG.replace("  - _self_", "  - components/gamma\n  - _self_")
        )
    )
    assert "Could not load 'components/gamma'" in line["reasons"][0]
    running.recovers()


def test_broken_interpolation(running: Running) -> None:
    """An interpolation of a key that does not exist is rejected naming key and file:line."""
    line = running.rejected(
        lambda: running.file("components/alpha.yaml").write_text(
            ALPHA.replace("label: first", "label: ${nowhere.nothing}")
        )
    )
    assert line["reasons"][0].startswith("components.alpha.config.label: ")
    assert "[conf/components/alpha.yaml:5]" in line["reasons"][0]
    running.recovers()


def test_missing_env_var(running: Running) -> None:
    """An `${oc.env:...}` of a variable the launch environment lacks is rejected."""
    line = running.rejected(
        lambda: running.file("components/alpha.yaml").write_text(
            ALPHA.replace("label: first", "label: ${oc.env:RX_NEVER_SET_ANYWHERE}")
        )
    )
    assert "RX_NEVER_SET_ANYWHERE" in line["reasons"][0]
    assert "[conf/components/alpha.yaml:5]" in line["reasons"][0]
    running.recovers()


@pytest.mark.parametrize("special", ["fifo", "device"])
def test_special_file_in_place_of_a_config_file(running: Running, special: str) -> None:
    """A FIFO, or a symlink to /dev/zero, put in place of a config file is rejected unread,
    naming it: the watch neither blocks on the FIFO nor fills memory from the device."""
    alpha = running.file("components/alpha.yaml")

    def replace() -> None:
        alpha.unlink()
        if special == "fifo":
            os.mkfifo(alpha)
        else:
            alpha.symlink_to("/dev/zero")

    try:
        line = running.rejected(replace)
    finally:  # a FIFO left behind would block the later tests' writes
        running.regular_again("components/alpha.yaml")
    name, kind = {
        "fifo": (f"{alpha}", "a named pipe (FIFO)"),
        "device": (f"{alpha} (a symlink to /dev/zero)", "a character device"),
    }[special]
    assert line["reasons"] == [
        f"{name}: not a regular file but {kind}; config files must be regular files"
        " (symlinks to regular files are followed)"
    ]
    running.recovers()


def test_file_over_the_size_limit(running: Running) -> None:
    """A file grown past the size limit (1 MiB) is rejected unread, naming it and the limit."""
    line = running.rejected(lambda: running.file("components/alpha.yaml").write_text(ALPHA + "#" * (1 << 20)))
    size = len(ALPHA) + (1 << 20)
    assert f"components/alpha.yaml: 1 MiB ({size} bytes), over the 1 MiB limit" in line["reasons"][0]
    running.recovers()


def test_bytes_that_are_not_utf8(running: Running) -> None:
    """A file saved in Latin-1 is rejected naming the file, line and column (not a bare
    UnicodeDecodeError)."""
    alpha = running.file("components/alpha.yaml")
    line = running.rejected(lambda: alpha.write_bytes(ALPHA.replace("first", "caf\xe9").encode("latin-1")))
    assert line["reasons"] == [
        f"{alpha}:5:13: not UTF-8 text (byte 0xe9); config files must be UTF-8: re-save the file in that encoding"
    ]
    running.recovers()


def test_nesting_too_deep(running: Running) -> None:
    """A value nested past the limit is rejected naming the file (not a bare RecursionError)."""
    alpha = running.file("components/alpha.yaml")
    line = running.rejected(lambda: alpha.write_text(ALPHA.replace("first", "[" * 150 + "]" * 150)))
    assert line["reasons"] == [f"{alpha}:5:42: mappings and lists nest more than 32 levels; flatten the structure"]
    running.recovers()


def test_change_callback_raises(running: Running) -> None:
    """A component refusing its new config (raising) rejects the whole reload."""
    line = running.rejected(
        lambda: running.file("components/alpha.yaml").write_text(
            ALPHA.replace("value: 1", "value: 2") + "  refuse: true\n"
        )
    )
    assert line["reasons"][0] == "component 'alpha' refused the change: ValueError: refusing this config"
    assert line["version"] == running.app.events("config.reloaded")[-1]["version"]
    running.recovers()


def test_restart_whose_new_start_fails(running: Running) -> None:
    """When a restarted component fails to start, it and its dependents restart on the old config."""
    position = running.app.mark()
    line = running.rejected(
        lambda: running.file("components/alpha.yaml").write_text(ALPHA + "  mode: b\n  fail_start: true\n")
    )
    assert "component 'alpha' failed to start: RuntimeError" in line["reasons"][0]
    assert [a["action"] for a in line["actions"]] == ["restart", "restart"]
    restarted = running.app.events("fx.started", after=position)
    assert [(e["component"], e["config"]["mode"]) for e in restarted] == [("alpha", "a"), ("beta", "a")]
    running.recovers()


def test_callback_that_hangs(hurried: Running) -> None:
    """A callback that never returns is cut off at app.watch.reload_timeout and compensated."""
    started = time.monotonic()
    line = hurried.rejected(
        lambda: hurried.file("components/alpha.yaml").write_text(
            ALPHA.replace("value: 1", "value: 3") + "  hang: true\n"
        )
    )
    assert "did not finish within 1 s (app.watch.reload_timeout)" in line["reasons"][0]
    assert time.monotonic() - started < 5
    hurried.recovers()


def test_edits_racing_a_reload_in_progress(running: Running) -> None:
    """An edit made while a slow reload applies is applied after it: the later edit wins."""
    alpha = running.file("components/alpha.yaml")
    position = running.app.mark()
    alpha.write_text(component("alpha", value=50, label="first", delay=0.8))
    time.sleep(0.4)  # composed by now; alpha's slow callback is under way
    alpha.write_text(component("alpha", value=51, label="first"))
    running.app.wait_for(
        lambda e: e.get("event") == "fx.observed" and e["config"]["value"] == 51, after=position
    )
    seen = [e["config"]["value"] for e in running.app.events("fx.observed", after=position)]
    assert seen[-1] == 51 and seen in ([50, 51], [51])
    assert running.app.events("config.rejected", after=position) == []
