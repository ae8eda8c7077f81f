"""What /metrics counts: counters that only ever go up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from framework.admin.api import create_admin_api
from framework.app import App
from framework.config.compose import ConfigSource


def test_the_reloads_counter_counts_past_the_history(project: Path) -> None:
    """The reload history keeps app.watch.history_size entries; the counter counts every attempt."""

    async def main() -> str:
        app = App(ConfigSource(project / "conf", overrides=("app.watch.history_size=1",)))
        transport = httpx.ASGITransport(app=create_admin_api(app))
        async with app, httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
            for _ in range(3):
                await app.reload()
            assert len(app.reload_history()) == 1
            return (await client.get("/metrics")).text

    assert 'framework_config_reloads_total{outcome="unchanged"} 3.0' in asyncio.run(main())
