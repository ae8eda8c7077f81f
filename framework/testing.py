"""Helpers and pytest fixtures for testing apps built on the framework.

Registered as a pytest plugin (entry point ``pytest11``), so the fixtures are available in any
project that installs the framework.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the plugin loads with pytest: keep its import light
    from framework.app import App
    from framework.events.bus import EventBus
    from framework.events.envelope import Envelope
    from framework.reload.outcome import ReloadOutcome


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (text is dedented); return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def integrate(
    *args: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the `integrate` command as a user would, in a subprocess; never raises on failure."""
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "framework", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """An empty ``conf/`` folder in a temporary project directory (the cwd of CLI runs)."""
    conf = tmp_path / "conf"
    conf.mkdir()
    return conf


# --- a running app: `integrate run` in a subprocess, its JSON log lines, edits and reloads ---

LogLine = dict[str, Any]
Predicate = Callable[[LogLine], bool]
RELOAD_EVENTS = ("config.reloaded", "config.rejected")


class RunningApp:
    """An ``integrate run --log-format json`` subprocess whose log lines a test can await.

    A thread reads stderr as it comes; ``wait_for`` returns the first line after a position
    (by default, after the line it returned last) that matches, or fails at its deadline
    showing the last lines seen. Use as a context manager: leaving it stops the process.
    """

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[LogLine] = []  # every JSON log line so far
        self.text: list[str] = []  # every stderr line, JSON or not
        self._cursor = 0
        self._done = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="integrate-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            with self._changed:
                self.text.append(raw.rstrip("\n"))
                if raw.startswith("{"):
                    try:
                        self.lines.append(json.loads(raw))
                    except json.JSONDecodeError:
                        pass
                self._changed.notify_all()
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def mark(self) -> int:
        """The position of the next log line: pass it as ``after`` to see only later lines."""
        with self._changed:
            return len(self.lines)

    def wait_for(
        self, match: Predicate | str, timeout: float = 10.0, *, after: int | None = None
    ) -> LogLine:
        """The first JSON line from position ``after`` on that matches (an event name or a
        predicate); AssertionError when none arrives within ``timeout`` seconds."""
        test = match if callable(match) else (lambda line: line.get("event") == match)
        position = self._cursor if after is None else after
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(position, len(self.lines)):
                    if test(self.lines[index]):
                        self._cursor = index + 1
                        return self.lines[index]
                position = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._done:
                    break
                self._changed.wait(remaining)
        what = match if isinstance(match, str) else getattr(match, "__name__", "the predicate")
        tail = "\n".join(self.text[-30:])
        raise AssertionError(f"no log line matching {what} within {timeout:g} s; last lines:\n{tail}")

    def seek(self, position: int) -> None:
        """Make the next ``wait_for`` without ``after`` start at ``position`` (from ``mark``)."""
        with self._changed:
            self._cursor = position

    def events(self, name: str, *, after: int = 0) -> list[LogLine]:
        """Every JSON line so far whose ``event`` is ``name``, from position ``after`` on."""
        with self._changed:
            return [line for line in self.lines[after:] if line.get("event") == name]

    def send(self, number: int) -> None:
        """Send a signal (``signal.SIGHUP`` asks for a reload)."""
        self.process.send_signal(number)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait for a graceful exit (kill after ``timeout``); return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return self.process.returncode

    def __enter__(self) -> RunningApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_app(
    *args: str,
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    ready: Predicate | str = "app.started",
    timeout: float = 30.0,
) -> RunningApp:
    """Start ``integrate run --log-format json *args`` in ``cwd`` and wait for ``ready``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "framework", "run", "--log-format", "json", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    app = RunningApp(process)
    try:
        app.wait_for(ready, timeout)
    except AssertionError:
        app.stop()
        raise
    return app


def edit_and_wait(
    app: RunningApp,
    edit: Callable[[], object],
    match: Predicate | None = None,
    timeout: float = 10.0,
) -> LogLine:
    """Make a file edit, then return the next reload outcome logged after it
    (``config.reloaded`` or ``config.rejected``, or the first line ``match`` accepts).

    Afterwards ``app.wait_for`` looks at the lines logged since the edit, so what the
    components logged while the reload ran can be awaited too.
    """
    position = app.mark()
    edit()
    test = match or (lambda line: line.get("event") in RELOAD_EVENTS)
    outcome = app.wait_for(test, timeout, after=position)
    app.seek(position)
    return outcome


# --- in-process: an App in the test's own event loop, its events, states and reloads ---


@contextlib.asynccontextmanager
async def started_app(
    config_dir: Path | str,
    *overrides: str,
    env: Mapping[str, str] | None = None,
    config_name: str = "config",
) -> AsyncIterator[App]:
    """Build and start the app a config dir describes; stop it on leaving the block.

    ``env`` is the whole environment the env layer reads (default: this process's).
    """
    from framework.app import App
    from framework.config.compose import ConfigSource

    source = ConfigSource(
        Path(config_dir), config_name, tuple(overrides), environ=dict(os.environ if env is None else env)
    )
    app = App(source)
    async with app:
        yield app


async def wait_for_state(app: App, component: str, state: str, timeout: float = 5.0) -> None:
    """Wait until a component reaches a lifecycle state (``"running"``, ``"failed"``, ...)."""
    deadline = time.monotonic() + timeout
    while app.state(component).value != state:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"component '{component}' is {app.state(component).value}, not {state}, after {timeout:g} s"
            )
        await asyncio.sleep(0.01)


class EventCapture:
    """Events published on a bus that match a pattern, as they arrive."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self._arrived = asyncio.Event()

    async def _record(self, event: Envelope) -> None:
        self.events.append(event)
        self._arrived.set()

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    async def wait_for(self, event_type: str, timeout: float = 5.0) -> Envelope:
        """The first captured event of ``event_type`` (waiting for it if need be)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.type == event_type:
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no '{event_type}' event within {timeout:g} s; got {self.types}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


@contextlib.asynccontextmanager
async def capture_events(bus: EventBus, pattern: str = "**") -> AsyncIterator[EventCapture]:
    """Record every event matching ``pattern`` published while the block runs."""
    capture = EventCapture()
    subscription = await bus.subscribe(pattern, capture._record, subscriber="framework.testing")
    try:
        yield capture
    finally:
        subscription.cancel()


async def edit_and_reload(app: App, path: Path, text: str) -> ReloadOutcome:
    """Write ``text`` (dedented) to a config file and reload now; return the outcome."""
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return await app.reload()


@pytest.fixture
def loguru_caplog(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """``caplog`` that also sees loguru records (the framework and components log with loguru)."""
    from loguru import logger

    handler_id = logger.add(caplog.handler, format="{message}", level=0)
    try:
        yield caplog
    finally:
        logger.remove(handler_id)
