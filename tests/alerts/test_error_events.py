"""Error events: each of the five kinds is published by a running app, with its secrets masked,
and a failure while handling an error event is logged, never published again in a loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from framework.events.envelope import Envelope
from framework.testing import capture_events, edit_and_reload, started_app
from tests.conftest import UserProject
from tests.leaks import leaks

SECRET = "s3cr\"et-pa$$wörd"  # a quote, dollars and non-ASCII: escaped differently in JSON and repr

FAILING = '''
import asyncio


class Worker:
    """Subscribes to work.*; its handler fails quoting the password, unless the payload says ok."""

    subscribes = ["work.*"]
    publishes = ["work.*"]
    config_schema = {"password": {"type": "string", "secret": True, "default": ""}}

    def __init__(self, config, bus):
        self.password, self.bus = config["password"], bus
        self.handled = 0

    async def start(self):
        await self.bus.subscribe("work.*", self.handle)

    async def stop(self):
        pass

    def handle(self, event):
        self.handled += 1
        if event.data.get("flaky") and event.attempts > 1:
            return
        if not event.data.get("ok"):
            raise RuntimeError(f"cannot log in as admin with {self.password}")


class Broken:
    """Never starts."""

    def __init__(self, config):
        self.config = config

    async def start(self):
        raise ConnectionError("the broker refused us")

    async def stop(self):
        pass


class Sick:
    """Starts, then reports itself unhealthy."""

    async def start(self):
        pass

    async def stop(self):
        pass

    def health(self):
        return {"status": "unhealthy", "error": "disk full"}


class ErrorEater:
    """Handles error events, and fails doing so: that must not loop."""

    subscribes = ["error.**"]

    def __init__(self, bus):
        self.bus, self.seen = bus, 0

    async def start(self):
        await self.bus.subscribe("error.**", self.handle)

    async def stop(self):
        pass

    def handle(self, event):
        self.seen += 1
        raise RuntimeError("I choke on errors")
'''

CONFIG = f"""
app:
  name: failing
  allowed_packages: [failing]
  watch: {{enabled: false}}
event_bus: {{max_retries: 1, retry_backoff: 0.01}}
health: {{interval: 0.05, failure_threshold: 1000}}
components:
  worker:
    class: failing.Worker
    config: {{password: {json.dumps(SECRET)}}}
"""


@pytest.fixture
def project(user_project: UserProject) -> Path:
    return user_project({"failing/__init__.py": FAILING, "conf/config.yaml": CONFIG})


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 20))


async def _until(capture: Any, count: int, topic: str) -> list[Envelope]:
    for _ in range(400):
        found = [e for e in capture.events if e.type == topic]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {count} '{topic}' event(s); got {capture.types}")


def test_a_failing_handler_publishes_error_handler_per_attempt_and_a_dead_letter(project: Path) -> None:
    """Each failed attempt is an `error.handler` (warning while a retry follows, error on the last,
    count = attempts so far); the event dead-lettered is an `error.dead_letter`; the password the
    handler quoted is masked in both, and the correlation id is the failed event's."""

    async def scenario() -> None:
        async with started_app(project / "conf") as app, capture_events(app.bus, "error.**") as capture:
            event = await app.bus.publish("work.order", {"id": 7}, correlation_id="order-7")
            handler = await _until(capture, 2, "error.handler")
            dead = (await _until(capture, 1, "error.dead_letter"))[0]
        assert [(e.data["severity"], e.data["count"]) for e in handler] == [("warning", 1), ("error", 2)]
        first = handler[0].data
        assert first["component"] == "worker" and first["kind"] == "handler"
        assert first["topic"] == "work.order" and first["correlation_id"] == "order-7"
        assert first["cause"] == "RuntimeError: cannot log in as admin with ***"
        assert dead.data["reason"] == "handler_failed" and dead.data["correlation_id"] == "order-7"
        assert dead.data["severity"] == "error" and dead.data["count"] == 2 and event.id
        for envelope in [*handler, dead]:
            assert leaks(json.dumps(envelope.to_dict()), SECRET) == []

    run(scenario())


def test_a_start_failure_an_unhealthy_component_and_a_rejected_reload_publish_theirs(project: Path) -> None:
    """`error.start` (an optional component: error; the app runs degraded), `error.health` (a
    component turned unhealthy, with its reason) and `error.reload` (the reasons, a warning)."""
    config = CONFIG + "  broken: {class: failing.Broken, optional: true}\n  sick: {class: failing.Sick}\n"
    (project / "conf/config.yaml").write_text(config)

    async def scenario() -> None:
        async with started_app(project / "conf") as app:
            async with capture_events(app.bus, "error.**") as capture:
                health = {e.data["component"]: e for e in await _until(capture, 2, "error.health")}["sick"]
                outcome = await edit_and_reload(
                    app, project / "conf/config.yaml", config.replace("interval: 0.05", "interval: -1")
                )
                reload = (await _until(capture, 1, "error.reload"))[0]
            starts = [e for e in app.bus.history() if e.type == "error.start"]
        assert len(starts) == 1 and starts[0].data["component"] == "broken"
        assert starts[0].data["cause"] == "ConnectionError: the broker refused us"
        assert starts[0].data["severity"] == "error" and starts[0].data["count"] == 1
        assert health.data["component"] == "sick" and health.data["cause"] == "disk full"
        assert health.data["severity"] == "error"
        assert not outcome.ok and reload.data["component"] == "app" and reload.data["severity"] == "warning"
        assert "health.interval: must be >= 0.01 (got -1)" in reload.data["cause"] and reload.data["correlation_id"]

    run(scenario())


def test_a_required_component_that_fails_to_start_is_critical(project: Path) -> None:
    """The app's start fails, and the `error.start` is still published before the bus closes."""
    (project / "conf/config.yaml").write_text(CONFIG + "  broken: {class: failing.Broken}\n")
    from framework.app import App
    from framework.config.compose import ConfigSource
    from framework.errors import ComponentStartError

    async def scenario() -> list[Envelope]:
        app = App(ConfigSource(project / "conf", "config", ()))
        with pytest.raises(ComponentStartError):
            await app.start()
        return [e for e in app.bus.history() if e.type == "error.start"]

    starts = run(scenario())
    assert [(e.data["component"], e.data["severity"]) for e in starts] == [("broken", "critical")]


def test_a_failure_while_handling_an_error_event_is_logged_not_published(project: Path) -> None:
    """A subscriber of `error.**` that raises gets no error event about its own failure: one
    `error.handler` for the work event, none for the error events, and the storm ends."""
    (project / "conf/config.yaml").write_text(CONFIG + "  eater: {class: failing.ErrorEater}\n")

    async def scenario() -> tuple[list[Envelope], int]:
        async with started_app(project / "conf", "event_bus.max_retries=0") as app:
            await app.bus.publish("work.order", {"id": 1})
            eater = app.instance("eater")
            for _ in range(200):
                if eater.seen >= 2:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # time for a loop to show itself
            return [e for e in app.bus.history() if e.type.startswith("error.")], eater.seen

    errors, seen = run(scenario())
    assert sorted(e.type for e in errors) == ["error.dead_letter", "error.handler"]
    assert all(e.data["component"] == "worker" for e in errors)
    assert seen == 2


def test_a_handler_that_recovers_on_retry_is_one_warning_and_no_dead_letter(project: Path) -> None:
    """A failed attempt that the retry fixes is one `error.handler` warning; a handler that
    succeeds at once, none."""

    async def scenario() -> list[str]:
        async with started_app(project / "conf") as app:
            await app.bus.publish("work.order", {"ok": True})
            await app.bus.publish("work.order", {"flaky": True})
            await asyncio.sleep(0.2)
            return [f"{e.type}:{e.data['severity']}" for e in app.bus.history() if e.type.startswith("error.")]

    assert run(scenario()) == ["error.handler:warning"]
