"""The in-process reload API on App: dry run, history, bus events, coalescing, framework sections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from framework.app import App
from framework.config.compose import ConfigSource
from framework.reload.outcome import ReloadOutcome, ReloadStatus
from tests.reload.conftest import ALPHA, CONFIG, make_project

Scenario = Callable[[App, Path], Awaitable[None]]


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "conf"


def run(conf: Path, scenario: Scenario, *overrides: str) -> None:
    async def main() -> None:
        async with App(ConfigSource(conf, overrides=overrides)) as app:
            await scenario(app, conf)

    asyncio.run(main())


def set_alpha(conf: Path, text: str) -> None:
    (conf / "components/alpha.yaml").write_text(text)


def test_dry_run_returns_the_plan_and_applies_nothing(conf: Path) -> None:
    """A dry run lists changes and actions but leaves snapshot, components and history alone."""

    async def scenario(app: App, conf: Path) -> None:
        set_alpha(conf, ALPHA.replace("value: 1", "value: 2") + "  mode: b\n")
        outcome = await app.reload(dry_run=True)
        assert outcome.status is ReloadStatus.PLANNED and outcome.dry_run and outcome.version == 2
        assert [(a.kind.value, a.target) for a in outcome.actions] == [
            ("restart", "alpha"),
            ("restart", "beta"),
        ]
        assert app.snapshot.version == 1 and app.instance("alpha").config["value"] == 1
        assert app.reload_history() == []
        applied = await app.reload()
        assert applied.status is ReloadStatus.APPLIED and app.snapshot.version == 2
        assert app.instance("alpha").config["mode"] == "b"

    run(conf, scenario)


def test_history_is_bounded_and_json_friendly(conf: Path) -> None:
    """The history keeps the last app.watch.history_size attempts as plain, JSON-ready dicts."""

    async def scenario(app: App, conf: Path) -> None:
        for value in (2, 3):
            set_alpha(conf, ALPHA.replace("value: 1", f"value: {value}"))
            await app.reload()
        set_alpha(conf, ALPHA.replace("value: 1", "value: nope"))
        rejected = await app.reload()
        set_alpha(conf, ALPHA.replace("value: 1", "value: 4"))
        await app.reload()
        history = app.reload_history()
        assert [(h["version"], h["outcome"]) for h in history] == [
            (3, "applied"),
            (3, "rejected"),
            (4, "applied"),
        ]
        assert set(history[0]) >= {"version", "time", "outcome", "changes", "actions", "reasons"}
        assert history[1]["reasons"] == list(rejected.reasons)
        assert json.loads(json.dumps(history)) == history

    run(conf, scenario, "app.watch.history_size=3")


def test_outcomes_are_published_on_the_bus(conf: Path) -> None:
    """config.reloaded and config.rejected go out on the app's bus with the outcome as data."""

    async def scenario(app: App, conf: Path) -> None:
        seen: list[Any] = []
        await app.bus.subscribe("config.*", seen.append)
        set_alpha(conf, ALPHA.replace("value: 1", "value: 2"))
        await app.reload()
        set_alpha(conf, ALPHA + "  pinned: moved\n")
        await app.reload()
        for _ in range(50):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
        assert [(e.type, e.source, e.data["outcome"]) for e in seen] == [
            ("config.reloaded", "app", "applied"),
            ("config.rejected", "app", "rejected"),
        ]
        assert "components.alpha.config.pinned is reload: never" in seen[1].data["reasons"][0]

    run(conf, scenario)


def test_requests_during_a_reload_coalesce_and_the_later_edit_wins(conf: Path) -> None:
    """Requests made while a reload runs share one later attempt, which reads the latest files."""

    async def scenario(app: App, conf: Path) -> None:
        set_alpha(conf, ALPHA.replace("value: 1", "value: 2") + "  delay: 0.3\n")
        first = asyncio.create_task(app.reload())
        await asyncio.sleep(0.15)
        waiting = [asyncio.create_task(app.reload()) for _ in range(3)]
        await asyncio.sleep(0.05)
        set_alpha(conf, ALPHA.replace("value: 1", "value: 3"))  # after those requests were made
        outcomes: list[ReloadOutcome] = [await first, *await asyncio.gather(*waiting)]
        assert [o.version for o in outcomes] == [2, 3, 3, 3]
        assert outcomes[1] is outcomes[2] is outcomes[3]
        assert app.instance("alpha").config["value"] == 3

    run(conf, scenario)


def test_event_bus_live_key_reconfigures_the_bus_and_restart_key_is_rejected(conf: Path) -> None:
    """A live event_bus key reaches the running bus; a restart one needs a process restart."""

    async def scenario(app: App, conf: Path) -> None:
        config = conf / "config.yaml"
        config.write_text(CONFIG + "event_bus:\n  max_retries: 7\n")
        outcome = await app.reload()
        assert [(a.kind.value, a.target) for a in outcome.actions] == [("reconfigure", "event_bus")]
        assert app.bus.settings.max_retries == 7  # type: ignore[attr-defined]
        config.write_text(CONFIG + "event_bus:\n  max_retries: 7\n  queue_size: 5\n")
        outcome = await app.reload()
        assert outcome.status is ReloadStatus.REJECTED
        assert "event_bus.queue_size is reload: restart" in outcome.reasons[0]
        assert app.snapshot.get("event_bus.queue_size") == 1000

    run(conf, scenario)


def test_app_restart_key_restarts_every_component(conf: Path) -> None:
    """app.initialization_order is `reload: restart`: every component restarts in the new order."""

    async def scenario(app: App, conf: Path) -> None:
        (conf / "config.yaml").write_text(
            CONFIG.replace("  start_timeout", "  initialization_order: [alpha]\n  start_timeout")
        )
        before = {name: app.instance(name) for name in ("alpha", "beta")}
        outcome = await app.reload()
        assert outcome.status is ReloadStatus.APPLIED
        assert [(a.kind.value, a.target) for a in outcome.actions] == [
            ("restart", "alpha"),
            ("restart", "beta"),
        ]
        assert all(app.instance(name) is not before[name] for name in before)
        assert app.instance("beta").dependencies["alpha"] is app.instance("alpha")

    run(conf, scenario)


def test_reload_before_start_needs_dry_run(conf: Path) -> None:
    """Applying a reload to an app that was never started is refused; a dry run works."""

    async def main() -> None:
        app = App(ConfigSource(conf))
        assert (await app.reload(dry_run=True)).status is ReloadStatus.UNCHANGED
        with pytest.raises(RuntimeError, match="start it first or pass dry_run=True"):
            await app.reload()

    asyncio.run(main())
