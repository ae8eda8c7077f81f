"""The admin API answers only requests that name this server in their Host: no DNS rebinding."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from framework.admin.api import create_admin_api
from framework.app import App
from framework.config.compose import ConfigSource
from framework.testing import integrate
from tests.admin.conftest import TOKEN, TOKEN_VAR, auth, serving

FOREIGN = [
    "attacker.example",
    "attacker.example:{port}",
    "127.0.0.1.nip.io:{port}",
    "localhost.attacker.example",
    "",
]
OWN = [
    "127.0.0.1:{port}",
    "localhost:{port}",
    "LOCALHOST",
    "localhost.:{port}",
    "[::1]:{port}",
    "10.1.2.3:9999",
]


def test_a_foreign_host_is_refused_and_the_servers_own_names_pass(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that is not this server's gets 421 with a JSON reason, writes too; IPs and localhost pass."""
    monkeypatch.setenv(TOKEN_VAR, TOKEN)

    async def main() -> None:
        async with serving(project) as (app, client):
            port = client.base_url.port
            for host in FOREIGN:
                refused = await client.get("/config", headers={"Host": host.format(port=port)})
                assert refused.status_code == 421, host
                assert "DNS rebinding" in refused.json()["detail"]
            write = await client.post(
                "/config/reload", params={"dry_run": "true"}, headers={"Host": "attacker.example", **auth()}
            )
            assert write.status_code == 421 and app.reload_history() == []
            for host in [*OWN, socket.gethostname()]:
                answer = await client.get("/health/live", headers={"Host": host.format(port=port)})
                assert answer.status_code == 200, host

    asyncio.run(main())


def test_the_configured_http_host_is_a_name_of_the_server(project: Path) -> None:
    """A server bound to a name answers to that name, and still not to another."""

    async def main() -> tuple[int, int]:
        api = create_admin_api(App(ConfigSource(project / "conf", overrides=("http.host=admin.internal",))))
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin.internal:8765") as client:
            own = await client.get("/info")
            other = await client.get("/info", headers={"Host": "other.internal"})
        return own.status_code, other.status_code

    assert asyncio.run(main()) == (200, 421)


def test_names_in_allowed_hosts_pass_and_a_reload_applies_them(project: Path) -> None:
    """A reverse proxy passing its public name on is let through once http.allowed_hosts names it
    (`*.domain` for its subdomains); other names are still refused, and an edit applies live."""
    config = project / "conf/config.yaml"
    config.write_text(config.read_text() + "\nhttp:\n  allowed_hosts: [admin.example.com, '*.svc.example']\n")

    async def main() -> list[int]:
        app = App(ConfigSource(project / "conf"))
        api = create_admin_api(app)
        transport = httpx.ASGITransport(app=api)
        statuses = []
        async with app, httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
            for host in ["admin.example.com", "ADMIN.example.com:443", "a.b.svc.example", "svc.example",
                         "evil-admin.example.com", "admin.example.com.evil"]:
                statuses.append((await client.get("/health/live", headers={"Host": host})).status_code)
            config.write_text(config.read_text().replace("admin.example.com", "console.example.com"))
            assert (await app.reload()).status.value == "applied"
            for host in ["console.example.com", "admin.example.com"]:
                statuses.append((await client.get("/health/live", headers={"Host": host})).status_code)
        return statuses

    assert asyncio.run(main()) == [200, 200, 200, 421, 421, 421, 200, 421]


def test_an_allowed_host_that_is_not_a_name_is_refused(project: Path) -> None:
    """A URL or a bare `*` in http.allowed_hosts would allow more than meant: refused at launch."""
    for bad in ["'https://admin.example.com'", "'*'", "'admin example'"]:
        result = integrate("check", f"http.allowed_hosts=[{bad}]", cwd=project)
        assert result.returncode == 2 and "http.allowed_hosts.0: must match the pattern" in result.stderr

