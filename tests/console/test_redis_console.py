"""The console of an app whose bus is Redis Streams: on Redis a subscriber is a consumer group,
so a console that subscribed would split events between tabs (or be refused for overlapping
patterns) and leave groups behind; it watches what the process publishes instead."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from tests.console.conftest import TOKEN, launch
from tests.console.test_streams import events_of
from tests.events.conftest import prefix, redis_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.redis


def test_every_tab_sees_every_event_and_no_group_is_made(tmp_path: Path, redis_url: str, prefix: str) -> None:  # noqa: F811
    running = launch(
        tmp_path, "event_bus=redis", f"event_bus.redis.url={redis_url}", f"event_bus.redis.stream_prefix={prefix}",
        env={"MARKET_BUS_KEY": "console-bus-key-0123456789"},
    )
    with running.app, httpx.Client(base_url=running.url, timeout=10) as client:
        with client.stream("GET", "/ui/stream/events", params={"pattern": "market.tick"}) as first, \
                client.stream("GET", "/ui/stream/events", params={"pattern": "market.*"}) as second:
            one = events_of(first.iter_text(), 8, timeout=15)
            two = events_of(second.iter_text(), 30, timeout=15)
        ids_two = [event["id"] for event in two if event["data"]["type"] == "market.tick"]
        # Both tabs got the same ticks, in the same order: nothing was split between them.
        common = [event["id"] for event in one if event["id"] in ids_two]
        assert len(common) >= 4 and common == [i for i in ids_two if i in common]
        assert TOKEN not in str(one + two)
    groups = set()
    client_redis = redis.Redis.from_url(redis_url)
    try:
        for stream in client_redis.scan_iter(match=f"{prefix}:*", _type="stream"):
            groups |= {group["name"].decode() for group in client_redis.xinfo_groups(stream)}
    finally:
        client_redis.close()
    assert groups and not any("console" in group for group in groups), groups
