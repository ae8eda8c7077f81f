"""The admin API's explain endpoint says what a key is for, as `integrate explain` does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.admin.conftest import serving


def test_admin_explain_endpoint_carries_the_description(project: Path) -> None:
    """GET /config/explain/KEY answers with the description of a described key, and none otherwise."""

    async def main_() -> tuple[dict[str, object], dict[str, object]]:
        async with serving(project) as (_, client):
            host = (await client.get("/config/explain/http.host")).json()
            port = (await client.get("/config/explain/http.port")).json()
            return host, port

    host, port = asyncio.run(main_())
    assert str(host["description"]).startswith("address the admin API listens on")
    assert "description" not in port
