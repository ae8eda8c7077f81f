"""POST /config/reload over HTTP on a real App: one reload at a time (the Reloader's), verdicts, auth."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from framework.admin.api import create_admin_api
from framework.app import App
from framework.config.compose import ConfigSource
from framework.testing import integrate
from tests.admin.conftest import TOKEN, TOKEN_VAR, auth, serving
from tests.reload.conftest import ALPHA

RELOAD = "/config/reload"
SLOW = ALPHA.replace("value: 1", "value: 2") + "  delay: 0.5\n"  # on_config_change sleeps 0.5 s

Scenario = Callable[[App, httpx.AsyncClient], Awaitable[None]]


def run(project: Path, scenario: Scenario) -> None:
    async def main() -> None:
        async with serving(project) as (app, client):
            await scenario(app, client)

    asyncio.run(main())


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The app's http.token, set through the variable its own YAML names."""
    monkeypatch.setenv(TOKEN_VAR, TOKEN)
    return TOKEN


def set_alpha(project: Path, text: str) -> None:
    (project / "conf/components/alpha.yaml").write_text(text)


def test_two_reloads_at_once_get_one_200_and_one_409(project: Path, token: str) -> None:
    """Two POSTs sent together: one applies the change, the other is refused with 409 at once."""

    async def scenario(app: App, client: httpx.AsyncClient) -> None:
        set_alpha(project, SLOW)
        responses = await asyncio.gather(client.post(RELOAD, headers=auth()), client.post(RELOAD, headers=auth()))
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        applied = next(r for r in responses if r.status_code == 200).json()
        assert applied["outcome"] == "applied" and applied["result"]["version"] == 2
        busy = next(r for r in responses if r.status_code == 409).json()
        assert "a reload is already in progress" in busy["detail"]
        assert app.snapshot.version == 2 and not app.reload_in_progress
        again = await client.post(RELOAD, headers=auth())  # nothing left holding the reload
        assert again.status_code == 200 and again.json()["outcome"] == "unchanged"

    run(project, scenario)


def test_a_request_while_an_in_process_reload_runs_is_409(project: Path, token: str) -> None:
    """A reload begun in process (as SIGHUP or the watcher would) makes the API answer 409 meanwhile."""

    async def scenario(app: App, client: httpx.AsyncClient) -> None:
        set_alpha(project, SLOW)
        running = asyncio.create_task(app.reload())
        await asyncio.sleep(0)  # the request is made; its attempt has not taken the lock yet
        assert app.reload_in_progress
        refused = await client.post(RELOAD, params={"dry_run": "true"}, headers=auth())
        assert refused.status_code == 409
        assert (await running).status.value == "applied"
        assert (await client.post(RELOAD, params={"dry_run": "true"}, headers=auth())).status_code == 200

    run(project, scenario)


def test_a_rejected_config_is_422_with_the_reason(project: Path, token: str) -> None:
    """A config that fails validation is answered 422, names the key, and the app keeps its version."""

    async def scenario(app: App, client: httpx.AsyncClient) -> None:
        set_alpha(project, ALPHA.replace("value: 1", "value: many"))
        response = await client.post(RELOAD, headers=auth())
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["outcome"] == "rejected" and not body["dry_run"]
        assert any("components.alpha.config.value" in reason for reason in body["result"]["reasons"])
        assert app.snapshot.version == 1

    run(project, scenario)


def test_a_reload_of_an_app_not_started_is_409(project: Path, token: str) -> None:
    """An app that has not started refuses a reload: 409 with the reason, no 500."""

    async def scenario() -> httpx.Response:
        api = create_admin_api(App(ConfigSource(project / "conf")))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://127.0.0.1") as client:
            return await client.post(RELOAD, headers=auth())

    response = asyncio.run(scenario())
    assert response.status_code == 409
    assert response.json()["outcome"] == "refused" and "start it first" in response.json()["detail"]


def test_writes_need_the_configured_token(project: Path, token: str) -> None:
    """No token or a wrong one is 401 (asking for Bearer); the right one reloads."""

    async def scenario(app: App, client: httpx.AsyncClient) -> None:
        missing = await client.post(RELOAD)
        assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = await client.post(RELOAD, headers=auth("not-the-token"))
        assert wrong.status_code == 401 and "wrong bearer token" in wrong.json()["detail"]
        basic = await client.post(RELOAD, headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        ok = await client.post(RELOAD, params={"dry_run": "true"}, headers=auth())
        assert ok.status_code == 200 and ok.json()["outcome"] == "unchanged"

    run(project, scenario)


def test_writes_are_disabled_without_a_token(project: Path) -> None:
    """With the token variable unset, http.token is null and every write answers 403 saying why."""

    async def scenario(app: App, client: httpx.AsyncClient) -> None:
        for path in (RELOAD, "/events/dead-letters/replay"):
            response = await client.post(path, headers=auth())
            assert response.status_code == 403
            assert "set http.token" in response.json()["detail"]
        assert app.reload_history() == []

    run(project, scenario)


@pytest.mark.parametrize("token", ["jeton-été-secret", "令牌-中文-secret", "key-🔑-emoji-1", "pass phrase with spaces"])
def test_a_non_ascii_token_authenticates(project: Path, monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    """A non-ASCII http.token (or one with spaces inside), sent in UTF-8 by a client or by
    `integrate reload`, is let through."""
    monkeypatch.setenv(TOKEN_VAR, token)
    utf8 = {"Authorization": b"Bearer " + token.encode()}
    latin1 = {"Authorization": b"Bearer " + token.encode("latin-1", "replace")}

    async def scenario(app: App, client: httpx.AsyncClient) -> None:
        ok = await client.post(RELOAD, params={"dry_run": "true"}, headers=utf8)
        assert ok.status_code == 200 and ok.json()["outcome"] == "unchanged", ok.text
        if not token.isascii():  # the same bytes as UTF-8 otherwise
            assert (await client.post(RELOAD, headers=latin1)).status_code == 401
        cli = await asyncio.to_thread(
            integrate, "reload", "--dry-run", "--url", str(client.base_url), "--token", token, cwd=project
        )
        assert cli.returncode == 0, cli.stderr
        assert cli.stdout.startswith("dry run: unchanged")

    run(project, scenario)
