"""Component tasks (the `tasks` service): a task that dies is logged, makes its component unhealthy
and gets it restarted; the lifecycle cancels what a component leaves running."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from framework.errors import ComponentStartError
from framework.health import HealthStatus
from framework.lifecycle import ComponentState
from framework.testing import started_app, write_tree
from tests.health.test_monitor import lifecycle
from tests.health.test_supervisor import settle

APP = {
    "pumps/__init__.py": '''
        import asyncio


        class Pump:
            """Spawns one task; on its first start the task dies after a moment."""

            def __init__(self, tasks):
                self.tasks, self.starts = tasks, 0

            async def start(self):
                self.starts += 1
                self.tasks.spawn(self.work(), name="pump-work")

            async def stop(self):
                pass

            async def work(self):
                await asyncio.sleep(0.05)
                if self.starts == 1:
                    raise RuntimeError("pump broke")
                await asyncio.Event().wait()
        ''',
    "conf/config.yaml": """
        app:
          name: pumping
          allowed_packages: [pumps]
          watch: {enabled: false}
        health: {interval: 0.05, failure_threshold: 2, backoff: 0.05}
        components:
          pump:
            class: pumps.Pump
        """,
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(tmp_path, APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture
def records() -> Iterator[list[Any]]:
    """Every loguru record written while the test runs."""
    seen: list[Any] = []
    handler = logger.add(lambda message: seen.append(message.record), level=0)
    yield seen
    logger.remove(handler)


def test_a_task_that_dies_is_logged_marks_its_component_unhealthy_and_is_restarted(
    project: Path, records: list[Any]
) -> None:
    """The crash is logged at once with its traceback; the monitor reports the component unhealthy,
    naming the task and the error, the app is not ready meanwhile, and the supervisor restarts it."""

    async def scenario() -> None:
        async with started_app(project / "conf") as app:
            pump = app.instance("pump")
            await settle(lambda: app.lifecycle.task_failure("pump") is not None)
            crash = [r for r in records if r["extra"].get("event") == "component.task_failed"]
            assert len(crash) == 1 and crash[0]["level"].name == "ERROR"
            assert crash[0]["extra"]["component"] == "pump" and crash[0]["extra"]["task"] == "pump-work"
            assert crash[0]["message"] == "task 'pump-work' died: RuntimeError: pump broke"
            assert crash[0]["exception"] is not None  # the traceback goes with it
            await asyncio.wait_for(_until(lambda: not app.health.readiness().ok), 5)
            assert app.health.readiness().reasons == (
                "pump is unhealthy: task 'pump-work' died: RuntimeError: pump broke",
            )
            await asyncio.wait_for(_until(lambda: pump.starts == 2), 5)
            record = app.health.records["pump"]
            await asyncio.wait_for(_until(lambda: record.status is HealthStatus.HEALTHY), 5)
            assert record.restarts == 1 and app.state("pump") is ComponentState.RUNNING
            assert app.lifecycle.task_failure("pump") is None and len(app.lifecycle.tasks["pump"]) == 1
            assert app.health.readiness().ok
        assert len(app.lifecycle.tasks["pump"]) == 0  # stopping cancelled the task it left running

    asyncio.run(scenario())
    restarted = [r for r in records if r["extra"].get("event") == "health.restarted"]
    assert [r["extra"]["subject"] for r in restarted] == ["pump"]


class Failing:
    """Spawns a task, then fails to start."""

    def __init__(self, tasks: Any) -> None:
        self.tasks = tasks

    async def start(self) -> None:
        self.task = self.tasks.spawn(asyncio.Event().wait(), name="idle")
        raise RuntimeError("no power")

    async def stop(self) -> None:
        pass


def test_tasks_of_a_failed_start_are_cancelled() -> None:
    """A start that raises after spawning leaves nothing running."""

    async def scenario() -> None:
        pump = Failing(None)
        life = lifecycle({"pump": pump})
        pump.tasks = life.tasks_for("pump")  # what the app hands it as `tasks`
        with pytest.raises(ComponentStartError, match="no power"):
            await life.start_all()
        await asyncio.sleep(0)  # the cancelled task ends at its next step
        assert pump.task.cancelled() and len(life.tasks["pump"]) == 0

    asyncio.run(scenario())


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)
