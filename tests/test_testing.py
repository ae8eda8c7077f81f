"""The in-process helpers users get from framework.testing work on a real app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from framework.testing import capture_events, edit_and_reload, started_app, wait_for_state, write_tree

APP = {
    "counter/__init__.py": '''
        from loguru import logger

        class Counter:
            config_schema = {"step": {"type": "integer", "min": 1, "default": 1}}

            def __init__(self, config, bus):
                self.config, self.bus = config, bus

            async def start(self):
                logger.info("counter starting")
                await self.bus.publish("counter.started", {"step": self.config["step"]})

            async def stop(self):
                pass

            def on_config_change(self, config, changed):
                self.config = config
        ''',
    "conf/config.yaml": """
        app:
          name: counting
          allowed_packages: [counter]
          watch: {enabled: false}
        components:
          counter:
            class: counter.Counter
            config: {step: 2}
        """,
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(tmp_path, APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_started_app_states_events_and_reload(project: Path) -> None:
    """started_app runs the app; capture_events, wait_for_state and edit_and_reload observe it."""

    async def scenario() -> None:
        async with started_app(project / "conf", "components.counter.config.step=3") as app:
            await wait_for_state(app, "counter", "running")
            assert app.instance("counter").config["step"] == 3
            config = project / "conf" / "config.yaml"
            edited = config.read_text().replace("  watch:", "  stop_timeout: 3\n  watch:")
            async with capture_events(app.bus, "config.*") as captured:
                outcome = await edit_and_reload(app, config, edited)
                assert outcome.ok and outcome.status.value == "applied"
                event = await captured.wait_for("config.reloaded")
                assert event.data["version"] == 2
            assert app.snapshot.get("app.stop_timeout") == 3
        assert app.state("counter").value == "stopped"

    asyncio.run(scenario())


def test_capture_events_sees_component_events(project: Path) -> None:
    """Events a component publishes while captured are recorded in order."""

    async def scenario() -> None:
        async with started_app(project / "conf") as app:
            async with capture_events(app.bus, "counter.*") as captured:
                await app.instance("counter").start()
                event = await captured.wait_for("counter.started")
                assert event.data == {"step": 2}

    asyncio.run(scenario())


def test_loguru_caplog_bridge(project: Path, loguru_caplog: pytest.LogCaptureFixture) -> None:
    """loguru records show up in caplog through the loguru_caplog fixture."""

    async def scenario() -> None:
        async with started_app(project / "conf"):
            pass

    asyncio.run(scenario())
    assert "counter starting" in loguru_caplog.text
