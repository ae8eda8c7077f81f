"""The console's Server-Sent Events over real HTTP: the reconnect hint, masking, bad patterns."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.console.conftest import TOKEN, Console


def test_no_secret_in_the_event_stream(console: Console) -> None:
    """The SSE stream says how soon to reconnect, and the feed's ticks carry the token masked."""
    seen = ""
    with httpx.Client(base_url=console.url, timeout=10) as client:
        with client.stream("GET", "/ui/stream/events", params={"pattern": "market.*"}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            deadline = time.monotonic() + 3
            for chunk in stream.iter_text():
                seen += chunk
                if seen.count("event: bus") >= 6 or time.monotonic() > deadline:
                    break
    assert seen.startswith("retry: ")
    assert '"symbol": "***"' in seen and '"symbol": "BTCUSDT"' in seen
    assert TOKEN not in seen


def test_bad_pattern_is_refused(console: Console) -> None:
    """An invalid topic pattern is a 422 naming the problem, not a stream."""
    answer = httpx.get(console.url + "/ui/stream/events", params={"pattern": "market..tick"})
    assert answer.status_code == 422
    assert "market..tick" in answer.json()["detail"]


def test_pages_and_streams_refuse_a_foreign_host(console: Console) -> None:
    """Like the API, the console answers 421 to a Host that does not name this server (DNS rebinding)."""
    for path in ("/ui", "/ui/config", "/ui/stream/events", "/ui/static/console.js"):
        answer = httpx.get(console.url + path, headers={"Host": "evil.example"})
        assert answer.status_code == 421, path


def events_of(stream: Iterator[str], count: int, timeout: float = 5) -> list[dict[str, Any]]:
    """The first ``count`` events an open SSE stream sends, each as {"id", "event", "data"}."""
    found: list[dict[str, Any]] = []
    buffer, deadline = "", time.monotonic() + timeout
    for chunk in stream:
        buffer += chunk
        *blocks, buffer = buffer.split("\n\n")
        for block in blocks:
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
            if "data" in fields:
                found.append({"id": fields["id"], "event": fields["event"], "data": json.loads(fields["data"])})
        if len(found) >= count or time.monotonic() > deadline:
            break
    assert len(found) >= count, f"only {len(found)} of {count} events came"
    return found[:count]


def test_watching_tabs_are_observers_not_subscribers(console: Console) -> None:
    """Two tabs with overlapping patterns each get every tick, and neither adds a subscriber,
    a queue or a counter to the bus: the console only looks."""
    before = subscribers(console)
    with httpx.Client(base_url=console.url, timeout=10) as client:
        with client.stream("GET", "/ui/stream/events", params={"pattern": "market.*"}) as first, \
                client.stream("GET", "/ui/stream/events", params={"pattern": "**"}) as second:
            ticks_first = events_of(first.iter_text(), 5)
            everything = events_of(second.iter_text(), 60)
            assert subscribers(console) == before
    ids = {event["id"] for event in everything}
    assert all(event["data"]["type"].startswith("market.") for event in ticks_first)
    assert {event["id"] for event in ticks_first} & ids, "the two tabs did not see the same events"


def subscribers(console: Console) -> set[str]:
    """The subscribers the bus counts, as /metrics labels them."""
    return set(re.findall(r'framework_event_queue_depth\{subscriber="([^"]+)"', httpx.get(console.url + "/metrics").text))


def test_a_reconnecting_browser_gets_what_it_missed(console: Console) -> None:
    """EventSource sends the last id it saw when it reconnects: the stream starts right after it."""
    with httpx.stream("GET", console.url + "/ui/stream/events", params={"pattern": "market.tick"}, timeout=10) as stream:
        seen = events_of(stream.iter_text(), 3)
    time.sleep(0.5)  # ticks go on while the browser is away
    recent = [e["id"] for e in httpx.get(console.url + "/events/recent", params={"topic": "market.tick", "limit": 1000}).json()]
    missed = recent[recent.index(seen[0]["id"]) + 1:]
    headers = {"Last-Event-ID": seen[0]["id"]}
    with httpx.stream("GET", console.url + "/ui/stream/events", params={"pattern": "market.tick"}, headers=headers,
                      timeout=10) as stream:
        again = events_of(stream.iter_text(), len(missed))
    assert [e["id"] for e in again] == missed
    assert all(e["data"]["type"] == "market.tick" for e in again)
