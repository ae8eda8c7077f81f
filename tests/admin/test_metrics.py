"""What /metrics counts: counters that only ever go up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from framework.admin.api import create_admin_api
from framework.app import App
from framework.config.compose import ConfigSource
from framework.events.envelope import Envelope
from framework.events.partitioning import partition_of
from tests.events.conftest import REDIS_URL, SIGNING_KEY


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


@pytest.mark.timeout(30)
def test_partitions_owned_their_lag_and_rebalances_are_metrics(project: Path, prefix: str) -> None:
    """On the Redis bus, a keyed topic's partitions this process owns, each one's lag (entries not
    yet acknowledged) and the rebalances show in /metrics as in GET /events/partitions."""
    overrides = (
        "event_bus.backend=redis", f"event_bus.redis.url={REDIS_URL}", f"event_bus.redis.stream_prefix={prefix}",
        f"event_bus.redis.signing_key={SIGNING_KEY}", "event_bus.partitions=4", "+event_bus.topics.orders={key: id}",
    )
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold(envelope: Envelope) -> None:
        entered.set()
        await release.wait()  # the first entry stays in its handler: its partition has a lag

    async def main() -> tuple[str, list[dict[str, object]]]:
        app = App(ConfigSource(project / "conf", overrides=overrides))
        transport = httpx.ASGITransport(app=create_admin_api(app))
        async with app, httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8765") as client:
            await app.bus.subscribe("orders", hold, subscriber="svc")
            while sum(len(s.owned) for s in await app.bus.partitions()) < 4:  # joined, alone
                await asyncio.sleep(0.02)
            await app.bus.publish("orders", {"id": "a"})
            await app.bus.publish("orders", {"id": "a"})
            await entered.wait()  # the first in its handler, the next read and queued behind it
            rows = (await client.get("/events/partitions")).json()
            text = (await client.get("/metrics")).text
            release.set()
            return text, rows

    text, [row] = asyncio.run(main())
    labels = 'subscriber="svc",topic="orders"'
    assert f"framework_partitions_owned{{{labels}}} 4.0" in text
    assert f"framework_partition_rebalances_total{{{labels}}} {float(row['rebalances'])}" in text
    busy = partition_of("a", 4)
    assert row["lag"][str(busy)] == 2
    assert f'framework_partition_lag{{partition="{busy}",{labels}}} 2.0' in text
    assert sorted(int(p) for p in row["lag"]) == [0, 1, 2, 3]
