"""Runtime control: stop, start, restart a component of a running app, dependencies respected.

The fixture app: alpha <- beta (beta depends on alpha), and the admin API serving the calls.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from framework.app import App
from framework.events.envelope import Envelope
from framework.testing import integrate
from tests.admin.conftest import TOKEN, TOKEN_VAR, auth, serving


def _states(app: App) -> dict[str, str]:
    return {name: state.value for name, state in app.lifecycle.states.items()}


async def _post(client: httpx.AsyncClient, path: str, token: str | None = TOKEN) -> httpx.Response:
    return await client.post(path, headers=auth(token) if token else {})


@pytest.fixture(autouse=True)
def token(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's token variable set (after ``project``, which clears it)."""
    monkeypatch.setenv(TOKEN_VAR, TOKEN)


def test_stop_takes_dependents_first_and_start_brings_dependencies_back(project: Path) -> None:
    """Stopping alpha stops beta first; starting beta starts alpha first; each action is an
    event; a component an operator stopped is not restarted by the health supervisor."""

    quick_health = ("health.interval=0.05", "health.failure_threshold=1", "health.backoff=0.01")

    async def main() -> None:
        async with serving(project, *quick_health) as (app, client):
            announced: list[Envelope] = []
            await app.bus.subscribe("system.component.control", announced.append, subscriber="test")
            stopped = await _post(client, "/components/alpha/stop")
            assert stopped.status_code == 200, stopped.text
            assert stopped.json() == {
                "action": "stop", "component": "alpha", "outcome": "done", "stopped": ["beta", "alpha"], "started": []
            }
            assert _states(app) == {"alpha": "stopped", "beta": "stopped", "admin": "running"}
            assert "stop of 'alpha' by an operator" in (app.lifecycle.reasons["alpha"] or "")
            await asyncio.sleep(0.5)  # ten health checks meanwhile: none restarts what an operator stopped
            assert app.lifecycle.states["alpha"].value == "stopped"
            started = await _post(client, "/components/beta/start")
            assert started.status_code == 200, started.text
            assert started.json()["started"] == ["alpha", "beta"]
            assert _states(app) == {"alpha": "running", "beta": "running", "admin": "running"}
            again = await _post(client, "/components/beta/start")  # already running: nothing to do
            assert again.status_code == 200 and again.json()["stopped"] == again.json()["started"] == []
            while len(announced) < 3:
                await asyncio.sleep(0.01)
            assert [(e.data["action"], e.data["component"], e.data["by"]) for e in announced] == [
                ("stop", "alpha", "api"), ("start", "beta", "api"), ("start", "beta", "api")
            ]

    asyncio.run(main())


def test_restart_restarts_the_dependents_too_and_no_cascade_refuses(project: Path) -> None:
    async def main() -> None:
        async with serving(project) as (app, client):
            refused = await _post(client, "/components/alpha/restart?cascade=false")
            assert refused.status_code == 409
            assert "'beta' depend on it and are running" in refused.json()["detail"]
            assert _states(app)["beta"] == "running"  # nothing was touched
            restarted = await _post(client, "/components/alpha/restart")
            assert restarted.status_code == 200, restarted.text
            assert restarted.json()["stopped"] == ["beta", "alpha"]
            assert restarted.json()["started"] == ["alpha", "beta"]
            alone = await _post(client, "/components/beta/restart?cascade=false")  # nothing depends on beta
            assert alone.json()["stopped"] == ["beta"] and alone.json()["started"] == ["beta"]
            await _post(client, "/components/beta/stop")
            no_deps = await _post(client, "/components/alpha/stop?cascade=false")  # beta is stopped now
            assert no_deps.status_code == 200 and no_deps.json()["stopped"] == ["alpha"]
            cannot = await _post(client, "/components/beta/start?cascade=false")
            assert cannot.status_code == 409 and "depends on 'alpha', which are not running" in cannot.json()["detail"]

    asyncio.run(main())


def test_bad_requests_are_refused_before_anything_changes(project: Path) -> None:
    """No token: 401; an unknown name: 404 naming the components; an unknown action: 422; the
    admin API never stops itself."""

    async def main() -> None:
        async with serving(project) as (app, client):
            assert (await _post(client, "/components/alpha/stop", token=None)).status_code == 401
            unknown = await _post(client, "/components/gamma/stop")
            assert unknown.status_code == 404
            assert unknown.json()["detail"] == "no enabled component named 'gamma' (components: admin, alpha, beta)"
            assert (await _post(client, "/components/alpha/pause")).status_code == 422
            itself = await _post(client, "/components/admin/restart")
            assert itself.status_code == 409 and "serves this request" in itself.json()["detail"]
            assert _states(app) == {"alpha": "running", "beta": "running", "admin": "running"}

    asyncio.run(main())


def test_a_component_that_cannot_start_again_is_reported(project: Path) -> None:
    async def main() -> None:
        async with serving(project) as (app, client):
            app.lifecycle.instances["alpha"].config = {**app.lifecycle.instances["alpha"].config, "fail_start": True}
            failed = await _post(client, "/components/alpha/restart")
            assert failed.status_code == 409
            body = failed.json()
            assert body["outcome"] == "failed" and body["stopped"] == ["beta", "alpha"] and body["started"] == []
            assert "alpha cannot start with fail_start" in body["error"]
            assert _states(app)["alpha"] == "failed" and _states(app)["beta"] == "stopped"

    asyncio.run(main())


def test_the_verbs_stop_start_and_restart_by_name(project: Path) -> None:
    """`integrate stop|start|restart NAME --url` as a user types them, token from the app's config."""

    async def main() -> list[tuple[int, str, str]]:
        async with serving(project) as (app, _):
            url, results = app.instance("admin").url, []
            for verb in (["restart", "alpha", "--no-cascade"], ["stop", "alpha"], ["start", "beta"], ["stop", "nope"]):
                done = await asyncio.to_thread(integrate, *verb, "--url", url, cwd=project)
                results.append((done.returncode, done.stdout, done.stderr))
            return results

    refused, stop, start, unknown = asyncio.run(main())
    assert refused[0] == 1
    assert "error: restart refused (409): cannot restart 'alpha' alone: 'beta' depend on it and are running" in refused[2]
    assert stop[:2] == (0, "stop alpha: done; stopped: beta, alpha; started: none\n"), stop
    assert start[:2] == (0, "start beta: done; stopped: none; started: alpha, beta\n"), start
    assert unknown[0] == 1 and "stop refused (404): no enabled component named 'nope'" in unknown[2]
