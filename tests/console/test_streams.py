"""The console's Server-Sent Events over real HTTP: the reconnect hint, masking, bad patterns."""

from __future__ import annotations

import time

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


def test_a_closed_stream_ends_its_subscription(console: Console) -> None:
    """While a browser listens, a 'console' subscriber is on the bus; once it goes, so does that
    subscriber, so reconnecting browsers leave nothing behind."""
    listening = 'framework_event_queue_depth{subscriber="console"}'
    with httpx.Client(base_url=console.url, timeout=10) as client:
        with client.stream("GET", "/ui/stream/events", params={"pattern": "market.*"}) as stream:
            chunks = stream.iter_text()
            assert next(chunks).startswith("retry: 2000")
            assert "event: bus" in next(chunks)
            assert listening in client.get("/metrics").text
        deadline = time.monotonic() + 5
        while listening in client.get("/metrics").text:
            assert time.monotonic() < deadline, "the subscription outlived its stream"
            time.sleep(0.1)
