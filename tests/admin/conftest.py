"""An in-process App with the admin API on a free port; its token variable named by its own YAML."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from framework.app import App
from framework.testing import started_app
from tests.events.conftest import prefix, redis_url  # noqa: F401  (fixtures, shared)
from tests.reload.conftest import CONFIG, make_project

TOKEN_VAR = "RX_ADMIN_TOKEN"  # the fixture app's choice, as MARKET_ADMIN_TOKEN is the shipped app's
TOKEN = "tok-a41c9e07b2d5"
ADMIN = f"""\
# @package _global_
components:
  admin:
    class: admin
http:
  port: 0
  token: ${{oc.env:{TOKEN_VAR},null}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The reload fixture app (alpha -> beta, package `rx`) plus the admin API; cwd is the project."""
    config = CONFIG.replace("  - components/beta\n", "  - components/beta\n  - components/admin\n")
    make_project(tmp_path, config=config, components__admin=ADMIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(TOKEN_VAR, raising=False)
    return tmp_path


@contextlib.asynccontextmanager
async def serving(project: Path, *overrides: str) -> AsyncIterator[tuple[App, httpx.AsyncClient]]:
    """The started app and an HTTP client for its admin API (over loopback, not in memory)."""
    async with started_app(project / "conf", *overrides) as app:
        url = app.instance("admin").url
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield app, client


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
