"""What a reload does per component and section, seen from a running `integrate run`."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from framework.testing import RunningApp, edit_and_wait, integrate, run_app
from tests.reload.conftest import ALPHA, CONFIG, component, make_project


@dataclass
class Running:
    app: RunningApp
    conf: Path

    def write(self, relative: str, text: str) -> dict:
        return edit_and_wait(self.app, lambda: (self.conf / relative).write_text(text))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = make_project(tmp_path_factory.mktemp("plan"))
    with run_app(cwd=root) as app:
        yield Running(app, root / "conf")


def test_restart_key_restarts_dependents_too(running: Running) -> None:
    """A `reload: restart` key restarts the component and what depends on it, in order."""
    position = running.app.mark()
    line = running.write("components/alpha.yaml", ALPHA + "  mode: b\n")
    assert [(a["action"], a["target"]) for a in line["actions"]] == [
        ("restart", "alpha"),
        ("restart", "beta"),
    ]
    assert line["actions"][1]["reason"] == "it depends on 'alpha', which restarts"
    running.app.wait_for(lambda e: e.get("event") == "fx.started" and e["component"] == "beta")
    trail = [
        (e["event"], e["component"]) for e in running.app.lines[position:] if e["event"].startswith("fx.")
    ]
    assert trail == [
        ("fx.stopped", "beta"),
        ("fx.stopped", "alpha"),
        ("fx.started", "alpha"),
        ("fx.started", "beta"),
    ]
    started = running.app.events("fx.started", after=position)
    assert started[0]["config"]["mode"] == "b"


def test_added_component_starts_and_removed_one_stops(running: Running) -> None:
    """A component added to the defaults list starts; removed again, it stops."""
    (running.conf / "components/gamma.yaml").write_text(component("gamma", "rx.Still", "beta", value=7))
    line = running.write("config.yaml", CONFIG.replace("  - _self_", "  - components/gamma\n  - _self_"))
    assert [(a["action"], a["target"], a["reason"]) for a in line["actions"]] == [
        ("start", "gamma", "added to the config")
    ]
    assert running.app.wait_for("fx.started")["component"] == "gamma"
    line = running.write("components/gamma.yaml", component("gamma", "rx.Still", "beta", value=8))
    assert line["actions"][0]["reason"] == "its config changed and it has no on_config_change"
    line = running.write("config.yaml", CONFIG)
    assert [(a["action"], a["target"]) for a in line["actions"]] == [("stop", "gamma")]
    assert running.app.wait_for("fx.stopped")["component"] == "gamma"


def test_never_key_is_rejected_naming_the_process_restart(running: Running) -> None:
    """A `reload: never` key (app.name) cannot change while running: the reload is rejected."""
    line = running.write("config.yaml", CONFIG.replace("name: reloading", "name: renamed"))
    assert line["event"] == "config.rejected"
    assert line["reasons"] == [
        "app.name is reload: never (conf/config.yaml:7); restart the process to apply it"
    ]
    assert running.write("config.yaml", CONFIG)["outcome"] == "unchanged"


def test_secrets_are_masked_in_the_reload_record(running: Running) -> None:
    """A secret key's old and new values never appear in the reload record or any log line."""
    running.write("components/alpha.yaml", ALPHA + "  token: hunter2-first\n")
    line = running.write("components/alpha.yaml", ALPHA + "  token: hunter2-second\n")
    assert line["changes"] == [
        {"key": "components.alpha.config.token", "old": "***", "new": "***", "kind": "changed"}
    ]
    assert not any("hunter2" in text for text in running.app.text)


def test_explain_shows_the_reload_policy(tmp_path: Path) -> None:
    """`integrate explain` says how a running app takes a change of each key."""
    make_project(tmp_path)
    result = integrate("explain", "components.alpha.config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    blocks = {b.split(" = ")[0]: b for b in result.stdout.split("\n\n")}
    assert "reload:  restart" in blocks["components.alpha.config.mode"]
    assert "reload:  never" in blocks["components.alpha.config.pinned"]
    assert "reload:  live" in blocks["components.alpha.config.value"]


def test_sighup_reloads(tmp_path: Path) -> None:
    """SIGHUP reloads even with the watcher turned off."""
    make_project(tmp_path)
    with run_app("app.watch.enabled=false", cwd=tmp_path) as app:
        alpha = tmp_path / "conf/components/alpha.yaml"
        alpha.write_text(ALPHA.replace("value: 1", "value: 2"))
        line = edit_and_wait(app, lambda: app.send(signal.SIGHUP))
        assert line["event"] == "config.reloaded" and line["trigger"] == "signal"
        assert app.wait_for("fx.observed")["config"]["value"] == 2


def test_edit_shadowed_by_env_and_override_is_reported(tmp_path: Path) -> None:
    """An edit to a key an env var or a launch override sets has no effect, and says so."""
    make_project(tmp_path)
    env = {"RX__COMPONENTS__ALPHA__CONFIG__VALUE": "5"}
    with run_app("components.alpha.config.label=cli", cwd=tmp_path, env=env) as app:
        alpha = tmp_path / "conf/components/alpha.yaml"
        line = edit_and_wait(app, lambda: alpha.write_text(component("alpha", value=6, label="file")))
        assert line["outcome"] == "unchanged" and line["changes"] == []
        assert line["shadowed"] == [
            {
                "key": "components.alpha.config.label",
                "file": "conf/components/alpha.yaml:5",
                "winner": "argument components.alpha.config.label=cli",
                "layer": "command line",
            },
            {
                "key": "components.alpha.config.value",
                "file": "conf/components/alpha.yaml:4",
                "winner": "env RX__COMPONENTS__ALPHA__CONFIG__VALUE",
                "layer": "env",
            },
        ]
        warning = app.wait_for("config.shadowed")
        assert warning["level"] == "WARNING"
        assert (
            "the edit in conf/components/alpha.yaml:5 has no effect; the command line layer wins"
            in (warning["message"])
        )


def test_logging_section_applies_live(tmp_path: Path) -> None:
    """A new logging.level takes effect at once; --log-format from the command line still wins."""
    make_project(tmp_path)
    with run_app(cwd=tmp_path) as app:
        config, alpha = tmp_path / "conf/config.yaml", tmp_path / "conf/components/alpha.yaml"
        position = app.mark()
        config.write_text(CONFIG + "logging:\n  level: WARNING\n")
        time.sleep(1.0)  # its own record is INFO, filtered by the level it sets: give it time
        line = edit_and_wait(app, lambda: alpha.write_text(ALPHA + "  valeu: 1\n"))  # warnings still show
        assert line["event"] == "config.rejected"
        assert app.events("config.reloaded", after=position) == []  # INFO records are filtered now
        line = edit_and_wait(app, lambda: (config.write_text(CONFIG), alpha.write_text(ALPHA)))
        assert line["event"] == "config.reloaded" and line["outcome"] == "applied"
        assert line["changes"] == [
            {"key": "logging.level", "old": "WARNING", "new": "INFO", "kind": "changed"}
        ]
