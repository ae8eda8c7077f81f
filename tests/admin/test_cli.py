"""`integrate reload` finds the token where the app's own config says, never in a name the framework knows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from framework.testing import integrate
from tests.admin.conftest import TOKEN, TOKEN_VAR, serving


def test_reload_reads_the_token_from_the_composed_config(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no --token, the verb composes the config (http.token from the app's own variable) and reloads."""
    monkeypatch.setenv(TOKEN_VAR, TOKEN)

    async def main() -> tuple[str, str]:
        async with serving(project) as (app, _):
            url = app.instance("admin").url
            allowed = await asyncio.to_thread(integrate, "reload", "--dry-run", "--url", url, cwd=project)
            assert allowed.returncode == 0, allowed.stderr
            unset = {TOKEN_VAR: ""}  # the variable the app's YAML names is empty: no token to send
            refused = await asyncio.to_thread(integrate, "reload", "--url", url, cwd=project, env=unset)
            assert refused.returncode == 1
            return allowed.stdout, refused.stderr

    allowed, refused = asyncio.run(main())
    assert allowed.startswith("dry run: unchanged")
    assert "reload refused (401)" in refused and "pass --token, or set http.token in conf" in refused
