"""The admin HTTP API end to end: tokens, secrets, bad requests, the port, the CLI verbs, fuzzing."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from framework.testing import integrate
from tests.health.apps import RunningApp, free_port, run_app, wait_for
from tests.leaks import SECRETS, leaks

TOKEN = "tok-3f9a7c21d8e4"
PASSWORD = "hunter2-vault-pw"
VAULT = ("+components.vault.class=fx_health.Vault",)


def test_writes_are_disabled_without_a_token(project: Path) -> None:
    """With no http.token configured, endpoints that change anything answer 403 saying how to enable them."""
    with run_app(project) as app:
        for path in ("/config/reload", "/events/dead-letters/replay"):
            response = app.post(path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 403
            assert "set http.token" in response.json()["detail"]


def test_token_is_enforced(project: Path) -> None:
    """A missing or wrong bearer token is 401; the right one is let through."""
    with run_app(project, "--env-prefix", "FX", env={"FX__HTTP__TOKEN": TOKEN}) as app:
        assert app.post("/config/reload").status_code == 401
        assert (
            app.post("/config/reload", headers={"Authorization": "Bearer wrong-token-x"}).status_code == 401
        )
        assert app.post("/config/reload", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        ok = app.post(
            "/config/reload", params={"dry_run": "true"}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert ok.status_code == 200, ok.text
        assert app.post(
            "/events/dead-letters/replay", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json() == {"replayed": 0}


def every_body(app: RunningApp) -> dict[str, str]:
    """The body of every GET without parameters, of explain for the secret keys, of a dry-run reload."""
    spec = app.get("/openapi.json").json()
    bodies = {
        path: app.get(path).text for path, ops in spec["paths"].items() if "get" in ops and "{" not in path
    }
    for key in ("http.token", "http", "components.vault.config.password", "components.vault"):
        bodies[f"explain {key}"] = app.get(f"/config/explain/{key}").text
    auth = {"Authorization": f"Bearer {TOKEN}"}
    bodies["reload"] = app.post("/config/reload", params={"dry_run": "true"}, headers=auth).text
    bodies["docs"] = app.get("/docs").text
    return bodies


def test_secrets_never_appear_in_any_response(project: Path) -> None:
    """The token (a CLI argument) and a component password (an env var) are masked in every body."""
    env = {"FX__COMPONENTS__VAULT__CONFIG__PASSWORD": PASSWORD}
    with run_app(project, "--env-prefix", "FX", f"http.token={TOKEN}", *VAULT, env=env) as app:
        wait_for(lambda: app.details("vault"), what="the vault's first health check")
        bodies = every_body(app)
        opened = app.get("/events/recent", params={"topic": "vault.opened"}).json()
        assert opened[0]["data"]["password"] == "***"  # the event is there, masked
        for name, body in bodies.items():
            assert TOKEN not in body, name
            assert PASSWORD not in body, name
        assert "http.token=***" in bodies["/config"]


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_with_any_character_never_appears_in_a_body_or_log_line(project: Path, secret: str) -> None:
    """Quotes, backslashes, controls or non-ASCII in a secret: every body and JSON log line masks it."""
    scalar = json.dumps(secret, ensure_ascii=False)  # a YAML double-quoted scalar
    config = project / "conf" / "config.yaml"
    config.write_text(
        config.read_text() + f"  vault:\n    class: fx_health.Vault\n    config:\n      password: {scalar}\n"
    )
    with run_app(project, f"http.token={TOKEN}") as app:
        details = wait_for(lambda: app.details("vault"), what="the vault's first health check")
        assert details["digest"] == hashlib.sha256(secret.encode()).hexdigest()[:12]  # it holds this secret
        bodies = every_body(app)
        opened = app.get("/events/recent", params={"topic": "vault.opened"}).json()
        assert opened[0]["data"]["password"] == "***"
        logged = app.logged("vault.opened")
        assert logged[0]["password"] == "***" and logged[0]["tries"] == [{"with": "***"}]
    bodies["log"] = app.log.read_text()
    assert "PermissionError: vault refused '***'" in bodies["log"]
    for name, body in bodies.items():
        assert leaks(body, secret) == [], name


def test_bad_requests_get_4xx_never_500(project: Path) -> None:
    """Oversized, malformed or ill-typed bodies and unknown keys are refused with 4xx and a reason."""
    with run_app(project, f"http.token={TOKEN}", "http.max_body=1024") as app:
        auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        replay = "/events/dead-letters/replay"
        big = app.post(replay, headers=auth, content=b"x" * 5000)
        assert big.status_code == 413 and "http.max_body" in big.json()["detail"]
        chunked = app.post(replay, headers=auth, content=iter([b"{" * 600, b"}" * 600]))
        assert chunked.status_code == 413
        assert app.post(replay, headers=auth, content=b'{"id": ').status_code == 422
        assert app.post(replay, headers=auth, content=b'{"id": 5}').status_code == 422
        assert app.post(replay, headers=auth, content=b'{"nope": 1}').status_code == 422
        missing = app.post(replay, headers=auth, json={"id": "no-such-letter"})
        assert missing.status_code == 404 and "no dead letter" in missing.json()["detail"]
        assert app.get("/events/recent", params={"topic": "bad..topic"}).status_code == 422
        assert app.get("/events/recent", params={"limit": 0}).status_code == 422
        unknown = app.get("/config/explain/health.intervall")
        assert unknown.status_code == 404
        assert "did you mean health.interval," in unknown.json()["detail"]


def test_port_in_use_is_a_clear_error(project: Path) -> None:
    """When the admin port is taken, start-up fails naming the port and the http.port key."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = integrate("run", f"http.port={port}", cwd=project, timeout=30)
    assert result.returncode == 1
    assert f"port {port} (http.port) is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_and_reload_verbs(project: Path) -> None:
    """`integrate status` lists components and health; `integrate reload --dry-run` prints the outcome."""
    with run_app(project, f"http.token={TOKEN}") as app:
        status = integrate("status", "--url", app.url, cwd=project)
        assert status.returncode == 0, status.stderr
        assert "health-fixture 0.0.0: healthy, ready" in status.stdout
        assert any(
            line.split()[:3] == ["source", "running", "healthy"] for line in status.stdout.splitlines()
        )
        reload = integrate("reload", "--dry-run", "--url", app.url, "--token", TOKEN, cwd=project)
        assert reload.returncode == 0, reload.stderr + reload.stdout
        assert reload.stdout.startswith("dry run: unchanged")
        refused = integrate("reload", "--url", app.url, cwd=project)  # the project sets no http.token
        assert refused.returncode == 1 and "reload refused (401)" in refused.stderr
    nobody = f"http://127.0.0.1:{free_port()}"
    for verb in ("status", "reload"):
        result = integrate(verb, "--url", nobody, cwd=project)
        assert result.returncode == 1
        assert f"no app answers at {nobody}" in result.stderr


def test_schemathesis_finds_no_server_error(project: Path) -> None:
    """Property-based requests generated from the app's own OpenAPI spec never get a 5xx."""
    with run_app(project, f"http.token={TOKEN}", *VAULT) as app:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{app.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "8",
                "--phases",
                "examples,coverage,fuzzing",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--generation-database",
                "none",
                "--no-color",
                "--seed",
                "1",
                "--workers",
                "1",
            ],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert app.get("/health/live").status_code == 200
