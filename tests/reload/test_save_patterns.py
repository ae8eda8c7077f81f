"""Every way people and tools save a file reaches the running app, through `integrate run`."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework.testing import RunningApp, edit_and_wait, run_app
from tests.reload.conftest import BETA, CONFIG, component, make_project

# A writer may pause mid-file for less than this; the watcher waits it out.
SETTLE = "app.watch.settle_ms=400"
# watchfiles' step: the fixture app's 20 ms, and the 1 ms the reload benchmark runs at.
STEPS = ["app.watch.step_ms=20", "app.watch.step_ms=1"]


@pytest.fixture(scope="module", params=STEPS)
def running(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[tuple[RunningApp, Path]]:
    root = make_project(tmp_path_factory.mktemp("saves"))
    with run_app(SETTLE, request.param, cwd=root) as app:
        yield app, root / "conf" / "components" / "alpha.yaml"


def applied(app: RunningApp, line: dict, value: int) -> dict:
    """Assert the outcome applied `value` and alpha observed exactly it; return what it observed."""
    assert line["event"] == "config.reloaded", line
    assert {"key": "components.alpha.config.value", "new": value} in [
        {"key": c["key"], "new": c["new"]} for c in line["changes"]
    ]
    observed = app.wait_for("fx.observed")
    assert observed["component"] == "alpha" and observed["config"]["value"] == value
    return observed


def test_in_place_write(running: tuple[RunningApp, Path]) -> None:
    """Rewriting the file in place hands the component the new config and the changed keys."""
    app, alpha = running
    line = edit_and_wait(app, lambda: alpha.write_text(component("alpha", value=2, label="first")))
    observed = applied(app, line, 2)
    assert observed["changed"] == ["value"]
    assert observed["type"] == "FrozenDict"  # plain, read-only data
    assert line["actions"] == [
        {
            "action": "reconfigure",
            "target": "alpha",
            "keys": ["components.alpha.config.value"],
            "reason": "live keys changed",
        }
    ]


def test_write_temp_then_rename(running: tuple[RunningApp, Path]) -> None:
    """A temp file moved over the original with os.replace is picked up (the dir is watched)."""
    app, alpha = running

    def save() -> None:
        temp = alpha.with_name("alpha.yaml.tmp")
        temp.write_text(component("alpha", value=3, label="first"))
        os.replace(temp, alpha)

    applied(app, edit_and_wait(app, save), 3)


def test_editor_renames_original_to_backup(running: tuple[RunningApp, Path]) -> None:
    """An editor that renames the original to a backup and writes a new file is followed."""
    app, alpha = running

    def save() -> None:
        backup = alpha.with_name("alpha.yaml~")
        os.rename(alpha, backup)
        alpha.write_text(component("alpha", value=4, label="first"))
        backup.unlink()

    applied(app, edit_and_wait(app, save), 4)


def test_delete_and_recreate(running: tuple[RunningApp, Path]) -> None:
    """Deleting the file and writing it again shortly after is one change, not an error."""
    app, alpha = running
    position = app.mark()

    def save() -> None:
        alpha.unlink()
        time.sleep(0.05)
        alpha.write_text(component("alpha", value=5, label="first"))

    applied(app, edit_and_wait(app, save), 5)
    assert app.events("config.rejected", after=position) == []


def test_truncate_then_write_in_two_parts(running: tuple[RunningApp, Path]) -> None:
    """A half-written file is neither applied nor rejected; the finished one is applied."""
    app, alpha = running
    position = app.mark()
    full = component("alpha", value=6, label='"halfway"')
    cut = full.index("halfway") + 4  # `label: "half` is not valid YAML yet

    def save() -> None:
        with open(alpha, "w") as handle:  # truncates
            handle.write(full[:cut])
            handle.flush()
            time.sleep(0.15)
            handle.write(full[cut:])

    observed = applied(app, edit_and_wait(app, save), 6)
    assert observed["config"]["label"] == "halfway"
    assert app.events("config.rejected", after=position) == []
    assert len(app.events("config.reloaded", after=position)) == 1


def test_burst_of_saves_ends_on_the_last_content(running: tuple[RunningApp, Path]) -> None:
    """Twenty saves within a second end in one or a few reloads whose result is the last save."""
    app, alpha = running
    position = app.mark()
    for value in range(100, 120):
        alpha.write_text(component("alpha", value=value, label="first"))
        time.sleep(0.03)
    final = {"key": "components.alpha.config.value", "new": 119}

    def last_save_applied(line: dict) -> bool:
        changes = [{"key": c["key"], "new": c["new"]} for c in line.get("changes", ())]
        return line.get("event") == "config.reloaded" and final in changes

    app.wait_for(last_save_applied, after=position)
    assert 1 <= len(app.events("config.reloaded", after=position)) <= 5
    seen = [line["config"]["value"] for line in app.events("fx.observed", after=position)]
    assert seen == sorted(seen)  # never back to an older save
    assert app.events("config.rejected", after=position) == []


@pytest.mark.parametrize("step", STEPS)
def test_kubernetes_configmap_symlink_swap(tmp_path: Path, step: str) -> None:
    """A ConfigMap update swaps the `..data` symlink to a new dir; the file is never named."""
    files = {
        "config.yaml": CONFIG,
        "components/alpha.yaml": component("alpha", value=1),
        "components/beta.yaml": BETA,
    }
    make_project(tmp_path)
    conf = tmp_path / "conf"
    shutil.rmtree(conf)
    conf.mkdir()

    def version_dir(name: str, alpha_value: int) -> None:
        for relative, text in files.items():
            if relative == "components/alpha.yaml":
                text = component("alpha", value=alpha_value)
            path = conf / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    version_dir("..2026_01_01_00_00_00.1", 1)
    (conf / "..data").symlink_to("..2026_01_01_00_00_00.1")
    (conf / "config.yaml").symlink_to("..data/config.yaml")
    (conf / "components").symlink_to("..data/components")

    def swap() -> None:  # what the kubelet does
        version_dir("..2026_01_01_00_01_00.2", 7)
        (conf / "..data_tmp").symlink_to("..2026_01_01_00_01_00.2")
        os.replace(conf / "..data_tmp", conf / "..data")
        shutil.rmtree(conf / "..2026_01_01_00_00_00.1")

    with run_app(step, cwd=tmp_path) as app:
        line = edit_and_wait(app, swap)
        applied(app, line, 7)
