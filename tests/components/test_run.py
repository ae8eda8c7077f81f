"""`integrate run/check/graph` on fixture apps: order, failures, rollback and shutdown."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from framework.testing import integrate
from tests.components.conftest import make_app
from tests.leaks import SECRETS, leaks

CHAIN = """
  db:
    class: fx.Probe
  cache:
    class: fx.Probe
    depends_on: [db]
  api:
    class: fx.Probe
    depends_on: [cache, db>=1.0]
  worker:
    class: fx.Probe
"""


def events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def transitions(stderr: str, state: str) -> list[str]:
    return [e["component"] for e in events(stderr) if e.get("event") == f"component.{state}"]


def run(project: Path, *overrides: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return integrate(
        "run", "--log-format", "json", "app.duration=0.3", *overrides, cwd=project, timeout=timeout
    )


def test_starts_in_dependency_order_and_stops_in_reverse(project: Path) -> None:
    """Dependencies start first, initialization_order breaks ties, stop is the exact reverse."""
    make_app(project, CHAIN, "  initialization_order: [worker]\n")
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert transitions(result.stderr, "running") == ["worker", "db", "cache", "api"]
    assert transitions(result.stderr, "stopped") == ["api", "cache", "db", "worker"]


def test_parallel_start_keeps_dependencies_first(project: Path) -> None:
    """With parallel_start, independent components start together, dependents still after."""
    make_app(
        project,
        CHAIN.replace("    class: fx.Probe\n", "    class: fx.Probe\n    config: {start_delay: 0.3}\n"),
        "  parallel_start: true\n",
    )
    started = time.monotonic()
    result = run(project)
    assert result.returncode == 0, result.stderr
    running = transitions(result.stderr, "running")
    assert running.index("db") < running.index("cache") < running.index("api")
    assert time.monotonic() - started < 4 * 0.3 + 3  # db and worker overlapped


def test_graph_formats(project: Path) -> None:
    """graph prints the start order as text, dot, mermaid and json."""
    make_app(project, CHAIN)
    text = integrate("graph", cwd=project)
    assert text.returncode == 0, text.stderr
    assert "1. db" in text.stdout and "3. api  (depends on cache, db)" in text.stdout
    data = json.loads(integrate("graph", "--format", "json", cwd=project).stdout)
    assert data["order"] == ["db", "cache", "api", "worker"]
    assert data["waves"] == [["db", "worker"], ["cache"], ["api"]]
    assert '"api" -> "cache";' in integrate("graph", "--format", "dot", cwd=project).stdout
    assert "api --> cache" in integrate("graph", "--format", "mermaid", cwd=project).stdout


def test_failed_start_rolls_back_in_reverse(project: Path) -> None:
    """When a start raises, what started is stopped in reverse and the exit names the cause."""
    make_app(project, CHAIN + "    config: {fail_start: true}\n")  # worker fails, last in order
    result = run(project)
    assert result.returncode == 1
    assert "component 'worker' failed to start: RuntimeError: worker cannot connect" in result.stderr
    assert transitions(result.stderr, "stopped") == ["api", "cache", "db"]
    assert "Traceback" not in result.stderr


def test_start_that_hangs_past_its_timeout(project: Path) -> None:
    """A start exceeding its timeout fails the launch and the others are stopped."""
    make_app(project, CHAIN + "    start_timeout: 0.2\n    config: {start_delay: 30}\n")
    result = run(project)
    assert result.returncode == 1
    assert "component 'worker' failed to start: start did not finish within 0.2 s" in result.stderr
    assert transitions(result.stderr, "stopped") == ["api", "cache", "db"]


def test_stop_that_raises_does_not_keep_others_running(project: Path) -> None:
    """A failing stop is reported and every other component still stops."""
    make_app(
        project,
        CHAIN.replace(
            "  cache:\n    class: fx.Probe\n",
            "  cache:\n    class: fx.Probe\n    config: {fail_stop: true}\n",
        ),
    )
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert transitions(result.stderr, "stopped") == ["worker", "api", "db"]
    failed = [e for e in events(result.stderr) if e.get("event") == "component.failed"]
    assert failed[0]["component"] == "cache" and "stop exploded" in failed[0]["reason"]


def _start_process(project: Path, *overrides: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "framework", "run", "--log-format", "json", *overrides],
        cwd=project,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _read_until(process: subprocess.Popen[str], event: str, deadline: float = 20) -> list[str]:
    lines: list[str] = []
    end = time.monotonic() + deadline
    assert process.stderr is not None
    while time.monotonic() < end:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if f'"event": "{event}"' in line:
            return lines
    raise AssertionError(f"no {event} in {''.join(lines)}")


def test_sigterm_stops_every_component(project: Path) -> None:
    """SIGTERM on a running app stops every component in reverse order and exits 0."""
    make_app(project, CHAIN)
    process = _start_process(project)
    head = _read_until(process, "app.started")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert transitions("".join(head) + err, "stopped") == ["worker", "api", "cache", "db"]


def test_sigterm_during_start_up_stops_what_started(project: Path) -> None:
    """SIGTERM while a component is still starting stops the ones already running."""
    make_app(
        project,
        CHAIN.replace(
            "  api:\n    class: fx.Probe\n",
            "  api:\n    class: fx.Probe\n    start_timeout: 60\n    config: {start_delay: 30}\n",
        ),
    )
    process = _start_process(project)
    head = _read_until(process, "component.starting")  # db starting
    head += _read_until(process, "component.running")  # db
    head += _read_until(process, "component.running")  # cache; api is now starting
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    log = "".join(head) + err
    assert transitions(log, "stopped") == ["cache", "db"]
    assert "api" not in transitions(log, "running")


def test_secrets_are_masked_in_logs_errors_and_show(project: Path) -> None:
    """A secret config value never appears in logs, errors or show output."""
    make_app(project, "  db:\n    class: fx.Probe\n    config: {password: hunter2-secret}\n")
    result = run(project)
    assert result.returncode == 0, result.stderr
    assert "hunter2-secret" not in result.stderr and "password is ***" in result.stderr
    failing = run(project, "components.db.config.fail_start=true")
    assert failing.returncode == 1 and "password ***" in failing.stderr
    assert "hunter2-secret" not in failing.stderr + failing.stdout
    for verb in (["show"], ["show", "--provenance"], ["explain", "components.db.config.password"]):
        shown = integrate(*verb, cwd=project)
        assert shown.returncode == 0, shown.stderr
        assert "hunter2-secret" not in shown.stdout and "***" in shown.stdout
    on_cli = integrate("show", "--provenance", "components.db.config.password=cli-secret-1", cwd=project)
    assert (
        "cli-secret-1" not in on_cli.stdout and "argument components.db.config.password=***" in on_cli.stdout
    )
    typed = integrate("check", "components.db.config.password=[hunter2-secret]", cwd=project)
    assert typed.returncode == 2 and "hunter2-secret" not in typed.stderr and "(got ***)" in typed.stderr


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_with_any_character_is_masked_in_run_output(project: Path, secret: str) -> None:
    """Quotes, backslashes, controls or non-ASCII in a secret: JSON and text lines, and the error, mask it."""
    scalar = json.dumps(secret, ensure_ascii=False)  # a YAML double-quoted scalar
    make_app(project, f"  db:\n    class: fx.Chatty\n    config: {{password: {scalar}}}\n")
    digest = hashlib.sha256(secret.encode()).hexdigest()[:12]
    result = run(project)
    assert result.returncode == 0, result.stderr
    up = next(e for e in events(result.stderr) if e.get("event") == "chatty.up")
    assert up["digest"] == digest and up["password"] == "***"  # the component held exactly this secret
    failing = integrate("run", "app.duration=0.3", "components.db.config.fail_start=true", cwd=project)
    assert failing.returncode == 1 and "PermissionError: refused '***'" in failing.stderr
    assert f'"digest": "{digest}"' in failing.stderr  # the text line's details
    for output in (result, failing):
        assert leaks(output.stderr + output.stdout, secret) == []
