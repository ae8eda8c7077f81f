"""The in-memory bus: routing, delivery, overflow, failures, shutdown and inspection."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections import deque
from typing import Any

import pytest

from framework.errors import SHOWN_PROBLEMS
from framework.events.bus import ScopedBus
from framework.events.delivery import Mailbox
from framework.events.envelope import Envelope
from framework.events.errors import (
    BusClosedError,
    DeadLetterNotFoundError,
    EventSerializationError,
    InvalidTopicError,
    PayloadValidationError,
    ReplayError,
    RequestTimeoutError,
    TopicPermissionError,
)
from framework.events.memory import MemoryBus
from framework.events.records import DeadLetterReason, Subscription
from framework.events.settings import BusSettings, Overflow
from tests.events.conftest import run, until


def memory_bus(**settings: Any) -> MemoryBus:
    return MemoryBus(BusSettings(**{"retry_backoff": 0.001, **settings}))


def test_exact_and_wildcard_subscribers_each_get_matching_events() -> None:
    """Exact topics, '*', '**' and '*.error' subscriptions receive exactly what they match."""

    async def scenario() -> dict[str, list[str]]:
        got: dict[str, list[str]] = {}
        async with memory_bus() as bus:
            for pattern in ("market_data.candle.closed", "market_data.*", "*.error", "system.**"):
                await bus.subscribe(
                    pattern, lambda e, p=pattern: got.setdefault(p, []).append(e.type),
                    subscriber=pattern,
                )
            for topic in (
                "market_data.candle.closed", "market_data.tick", "feed.error",
                "system.component.started", "system", "config.reloaded",
            ):
                await bus.publish(topic)
        return got

    got = run(scenario())
    assert got == {
        "market_data.candle.closed": ["market_data.candle.closed"],
        "market_data.*": ["market_data.tick"],
        "*.error": ["feed.error"],
        "system.**": ["system.component.started", "system"],
    }


def test_sync_and_async_handlers_both_receive_the_envelope() -> None:
    """A plain function and a coroutine function are both valid handlers."""

    async def scenario() -> list[Any]:
        got: list[Any] = []

        async def async_handler(envelope: Envelope) -> None:
            await asyncio.sleep(0)
            got.append(("async", envelope.data))

        async with memory_bus() as bus:
            await bus.subscribe("a.b", lambda e: got.append(("sync", e.data)), subscriber="s")
            await bus.subscribe("a.b", async_handler)
            envelope = await bus.publish("a.b", {"n": 1}, source="feed")
            assert envelope.source == "feed" and envelope.type == "a.b"
        return got

    assert sorted(run(scenario())) == [("async", {"n": 1}), ("sync", {"n": 1})]


def test_health_is_healthy_while_running_only() -> None:
    """The bus as a health check (readiness asks it): healthy while running, unhealthy once stopped."""

    async def scenario() -> list[Any]:
        bus = memory_bus()
        answers = [await bus.health()]
        async with bus:
            answers.append(await bus.health())
        return [*answers, await bus.health()]

    assert run(scenario()) == [
        {"status": "unhealthy", "error": "the event bus is new"},
        {"status": "healthy"},
        {"status": "unhealthy", "error": "the event bus is stopped"},
    ]


def test_filter_predicate_skips_events_for_that_subscription_only() -> None:
    """A filter returning False skips the event for its subscription; others still get it."""

    async def scenario() -> tuple[list[int], list[int]]:
        odd: list[int] = []
        every: list[int] = []
        async with memory_bus() as bus:
            await bus.subscribe(
                "n.*", lambda e: odd.append(e.data), subscriber="odd", filter=lambda e: e.data % 2
            )
            await bus.subscribe("n.*", lambda e: every.append(e.data), subscriber="every")
            for i in range(6):
                await bus.publish("n.x", i)
        return odd, every

    assert run(scenario()) == ([1, 3, 5], [0, 1, 2, 3, 4, 5])


def test_raising_filter_dead_letters_the_event() -> None:
    """A filter that raises dead-letters the event for its subscription with the error."""

    async def scenario() -> list[Any]:
        async with memory_bus() as bus:
            await bus.subscribe("a.b", lambda e: None, subscriber="s", filter=lambda e: 1 / 0)
            await bus.publish("a.b")
            return await bus.dead_letters()

    (letter,) = run(scenario())
    assert letter.reason is DeadLetterReason.FILTER_FAILED and "ZeroDivisionError" in letter.error


def test_subscription_handle_cancels_by_method_or_call() -> None:
    """Subscription.cancel() and calling the handle both unsubscribe, idempotently."""

    async def scenario() -> tuple[list[str], Subscription, Subscription]:
        got: list[str] = []
        async with memory_bus() as bus:
            first = await bus.subscribe("a.b", lambda e: got.append("first"), subscriber="1")
            second = await bus.subscribe("a.b", lambda e: got.append("second"), subscriber="2")
            await bus.publish("a.b")
            await until(lambda: len(got) == 2)
            first.cancel()
            second()
            second()
            await bus.publish("a.b")
            assert bus.subscriptions() == []
        return got, first, second

    got, first, second = run(scenario())
    assert sorted(got) == ["first", "second"]
    assert not first.active and not second.active and "cancelled" in repr(first)


def test_subscribing_to_a_cached_topic_takes_effect_at_once() -> None:
    """A subscription added after a topic was routed (and cached) receives the next event."""

    async def scenario() -> list[str]:
        got: list[str] = []
        async with memory_bus() as bus:
            await bus.subscribe("a.*", lambda e: got.append("wild"), subscriber="w")
            await bus.publish("a.b")
            await bus.subscribe("a.b", lambda e: got.append("exact"), subscriber="e")
            await bus.publish("a.b")
        return got

    assert sorted(run(scenario())) == ["exact", "wild", "wild"]


def test_higher_priority_first_and_fifo_within_a_priority() -> None:
    """Queued events come out highest priority first, in publish order within a priority."""

    async def scenario() -> list[str]:
        got: list[str] = []
        gate = asyncio.Event()

        async def handler(envelope: Envelope) -> None:
            if envelope.data == "gate":
                await gate.wait()
            else:
                got.append(envelope.data)

        async with memory_bus() as bus:
            await bus.subscribe("q.x", handler)
            await bus.publish("q.x", "gate")
            await asyncio.sleep(0.01)  # the worker now holds "gate"; the rest queue up
            for name, priority in [("low1", 1), ("mid1", 5), ("high1", 9), ("low2", 1),
                                   ("high2", 9), ("mid2", 5), ("top", 10), ("bottom", 0)]:
                await bus.publish("q.x", name, priority=priority)
            gate.set()
        return got

    assert run(scenario()) == ["top", "high1", "high2", "mid1", "mid2", "low1", "low2", "bottom"]


def test_invalid_priority_and_topics_are_refused() -> None:
    """Out-of-range priority, malformed topics and wildcard publishes raise clear errors."""

    async def scenario() -> None:
        async with memory_bus() as bus:
            with pytest.raises(ValueError, match="priority 11 is invalid"):
                await bus.publish("a.b", priority=11)
            with pytest.raises(InvalidTopicError, match="'a..b' is invalid: segment 2 is empty"):
                await bus.publish("a..b")
            with pytest.raises(InvalidTopicError, match="not allowed in a published topic"):
                await bus.publish("a.*")
            with pytest.raises(InvalidTopicError, match="'a.b c' is invalid.*whitespace"):
                await bus.subscribe("a.b c", lambda e: None)
            with pytest.raises(InvalidTopicError, match="mixes"):
                await bus.subscribe("a.**b", lambda e: None)

    run(scenario())


def test_slow_handler_blocks_neither_the_publisher_nor_other_subscribers() -> None:
    """While one handler sleeps, publish returns at once and a fast subscriber gets everything."""

    async def scenario() -> tuple[float, list[int], int]:
        fast: list[int] = []

        async def slow(envelope: Envelope) -> None:
            await asyncio.sleep(10)

        async with memory_bus(shutdown_timeout=0.05) as bus:
            await bus.subscribe("t.x", slow)
            await bus.subscribe("t.x", lambda e: fast.append(e.data), subscriber="fast")
            started = time.perf_counter()
            for i in range(100):
                await bus.publish("t.x", i)
            elapsed = time.perf_counter() - started
            await until(lambda: len(fast) == 100)
            depth = bus.statistics().queue_depths[f"{__name__}.{slow.__qualname__}"]
        return elapsed, fast, depth

    elapsed, fast, depth = run(scenario())
    assert elapsed < 0.5 and fast == list(range(100)) and depth == 99


def _overflow_scenario(policy: Overflow) -> Any:
    async def scenario() -> tuple[list[int], Any, list[Any], bool]:
        got: list[int] = []
        gate = asyncio.Event()

        async def handler(envelope: Envelope) -> None:
            await gate.wait()
            got.append(envelope.data)

        async with memory_bus(queue_size=2, overflow=policy) as bus:
            await bus.subscribe("burst.x", handler, subscriber="slow")
            await bus.publish("burst.x", 0)
            await asyncio.sleep(0.01)  # 0 is in the handler; the queue holds 2
            publisher = asyncio.ensure_future(_publish_all(bus, range(1, 6)))
            await asyncio.sleep(0.05)
            blocked = not publisher.done()
            gate.set()
            await publisher
            await until(lambda: bus.statistics().queue_depths["slow"] == 0)
            await asyncio.sleep(0.01)
            return got, bus.statistics(), await bus.dead_letters(), blocked

    return run(scenario())


async def _publish_all(bus: MemoryBus, values: range) -> None:
    for value in values:
        await bus.publish("burst.x", value)


def test_overflow_block_makes_the_publisher_wait_for_space() -> None:
    """With 'block', a publisher faster than its subscriber waits, and nothing is lost."""
    got, stats, letters, blocked = _overflow_scenario(Overflow.BLOCK)
    assert blocked and got == [0, 1, 2, 3, 4, 5] and stats.dropped == 0 and not letters


def test_overflow_drop_oldest_keeps_the_newest_events() -> None:
    """With 'drop_oldest', a full queue drops its oldest events; the publisher never waits."""
    got, stats, letters, blocked = _overflow_scenario(Overflow.DROP_OLDEST)
    assert not blocked and got == [0, 4, 5] and stats.dropped == 3 and not letters


def test_overflow_dead_letter_sets_the_new_events_aside() -> None:
    """With 'dead_letter', events that find the queue full go to the dead letters."""
    got, stats, letters, blocked = _overflow_scenario(Overflow.DEAD_LETTER)
    assert not blocked and got == [0, 1, 2] and stats.dead_lettered == 3
    assert [letter.envelope.data for letter in letters] == [3, 4, 5]
    assert all(letter.reason is DeadLetterReason.QUEUE_FULL for letter in letters)
    assert "queue of subscriber 'slow' is full (2 events)" in letters[0].error


def test_raising_handler_is_retried_with_backoff_then_dead_lettered() -> None:
    """A handler that keeps raising is retried max_retries times, then dead-lettered with the error."""

    async def scenario() -> tuple[list[tuple[int, float]], Any, list[Any]]:
        attempts: list[tuple[int, float]] = []

        def handler(envelope: Envelope) -> None:
            attempts.append((envelope.attempts, time.perf_counter()))
            raise RuntimeError(f"boom {envelope.data}")

        async with memory_bus(max_retries=3, retry_backoff=0.02) as bus:
            await bus.subscribe("job.run", handler, subscriber="worker")
            await bus.publish("job.run", 7)
            await until(lambda: bus.statistics().dead_lettered == 1)
            return attempts, bus.statistics(), await bus.dead_letters()

    attempts, stats, (letter,) = run(scenario())
    assert [n for n, _ in attempts] == [1, 2, 3, 4]
    gaps = [b - a for (_, a), (_, b) in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.018 and gaps[1] >= 0.038 and gaps[2] >= 0.078  # 20, 40, 80 ms
    assert stats.failed == 4 and stats.delivered == 0
    assert letter.reason is DeadLetterReason.HANDLER_FAILED and letter.subscriber == "worker"
    assert "4 attempt(s) failed; last: RuntimeError: boom 7" in letter.error
    assert letter.envelope.data == 7


def test_handler_that_recovers_on_retry_is_not_dead_lettered() -> None:
    """A handler failing once then succeeding counts as delivered, not dead-lettered."""

    async def scenario() -> Any:
        calls: list[int] = []

        def flaky(envelope: Envelope) -> None:
            calls.append(envelope.attempts)
            if envelope.attempts == 1:
                raise ValueError("transient")

        async with memory_bus(max_retries=2) as bus:
            await bus.subscribe("job.run", flaky)
            await bus.publish("job.run")
            await until(lambda: bus.statistics().delivered == 1)
            return calls, bus.statistics()

    calls, stats = run(scenario())
    assert calls == [1, 2] and stats.failed == 1 and stats.dead_lettered == 0


def test_hanging_handler_times_out_counts_as_failure_and_the_worker_goes_on() -> None:
    """A handler outliving handler_timeout fails (TimeoutError), is dead-lettered, and later events still flow."""

    async def scenario() -> tuple[list[Any], list[Any], float]:
        got: list[Any] = []

        async def handler(envelope: Envelope) -> None:
            if envelope.data == "hang":
                await asyncio.sleep(3600)
            got.append(envelope.data)

        async with memory_bus(handler_timeout=0.05, max_retries=1) as bus:
            await bus.subscribe("job.run", handler, subscriber="w")
            started = time.perf_counter()
            await bus.publish("job.run", "hang")
            await bus.publish("job.run", "next")
            await until(lambda: got == ["next"])
            elapsed = time.perf_counter() - started
            return got, await bus.dead_letters(), elapsed

    got, (letter,), elapsed = run(scenario())
    assert "HandlerTimeoutError" in letter.error and "handler_timeout=0.05 s" in letter.error
    assert "2 attempt(s) failed" in letter.error and 0.1 <= elapsed < 1.0


def test_history_is_bounded_and_newest_last() -> None:
    """history() keeps the last history_size events, oldest first, and honours limit."""

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        async with memory_bus(history_size=3) as bus:
            for i in range(5):
                await bus.publish("h.x", i)
            return [e.data for e in bus.history()], [e.data for e in bus.history(2)], bus.history(0)

    assert run(scenario()) == ([2, 3, 4], [3, 4], [])


def test_payload_schema_refuses_invalid_data_naming_the_field() -> None:
    """A payload failing its event type's schema is refused at publish, naming the field."""
    schema = {
        "symbol": {"type": "string", "required": True},
        "close": {"type": "number", "min": 0},
        "venue": {"type": "string", "default": "paper"},
    }

    async def scenario() -> tuple[Envelope, list[Any]]:
        got: list[Any] = []
        async with MemoryBus(schemas={"market.candle": schema}) as bus:
            await bus.subscribe("market.*", lambda e: got.append(e.data))
            with pytest.raises(PayloadValidationError) as caught:
                await bus.publish("market.candle", {"close": -1})
            message = str(caught.value)
            assert "event 'market.candle' payload is invalid" in message
            assert "field 'close' must be >= 0 (got -1)" in message
            assert "field 'symbol' required key is missing" in message
            with pytest.raises(PayloadValidationError, match="data must be a mapping"):
                await bus.publish("market.candle", [1])
            envelope = await bus.publish("market.candle", {"symbol": "BTC", "close": 2})
            await bus.publish("market.tick", "no schema, no check")
        return envelope, got

    envelope, got = run(scenario())
    assert envelope.data == {"symbol": "BTC", "close": 2, "venue": "paper"}  # normalized
    assert got == [envelope.data, "no schema, no check"]


def test_payload_with_many_unknown_fields_lists_a_screenful() -> None:
    """A payload with 500 unknown fields is refused listing the first ones, with a suggestion,
    and counting the rest exactly."""
    data = {"symbol": "BTC", "clsoe": 1, **{f"extra_{i:03}": i for i in range(499)}}
    schema = {"symbol": {"type": "string"}, "close": {"type": "number"}}

    async def scenario() -> list[str]:
        async with MemoryBus(schemas={"market.candle": schema}) as bus:
            with pytest.raises(PayloadValidationError) as caught:
                await bus.publish("market.candle", data)
        return caught.value.problems

    problems = run(scenario())
    assert problems[0] == (
        "field 'clsoe' unknown key; did you mean 'close'? (accepted keys: close, symbol) (got 1)"
    )
    assert problems[1].startswith("field 'extra_000' unknown key")
    assert len(problems) == SHOWN_PROBLEMS + 1
    assert problems[-1] == f"... and {500 - SHOWN_PROBLEMS} more problems"


def test_check_json_refuses_unserializable_data_naming_the_type() -> None:
    """With check_json, data JSON cannot hold is refused at publish naming the event type."""

    async def scenario() -> None:
        async with memory_bus(check_json=True) as bus:
            with pytest.raises(EventSerializationError, match="event 'orders.created'"):
                await bus.publish("orders.created", {"at": datetime.date(2024, 1, 1)})
            await bus.publish("orders.created", {"at": "2024-01-01"})

    run(scenario())


def test_request_reply_and_timeout() -> None:
    """request() returns the reply addressed by correlation id, or raises RequestTimeoutError."""

    async def scenario() -> Envelope:
        async def responder(request: Envelope) -> None:
            await bus.reply(request, {"price": request.data["qty"] * 10})

        async with memory_bus() as bus:
            await bus.subscribe("quote.requested", responder, subscriber="pricer")
            reply = await bus.request("quote.requested", {"qty": 3}, timeout=1)
            with pytest.raises(RequestTimeoutError, match="no reply to request 'nobody.home'"):
                await bus.request("nobody.home", timeout=0.05)
            with pytest.raises(ValueError, match="was not sent by bus.request"):
                await bus.reply(Envelope("a.b"), 1)
        return reply

    reply = run(scenario())
    assert reply.data == {"price": 30} and reply.type == "quote.requested.reply"
    assert issubclass(RequestTimeoutError, TimeoutError)


def test_scoped_view_stamps_source_and_enforces_declared_topics() -> None:
    """A component's scoped bus stamps source and refuses topics outside its declaration."""

    async def scenario() -> list[Envelope]:
        got: list[Envelope] = []
        async with memory_bus() as bus:
            feed = bus.scoped("feed", publishes=["market.*"], subscribes=["control.**"])
            assert isinstance(feed, ScopedBus)
            await feed.subscribe("control.*", got.append)  # covered by control.**
            await bus.subscribe("market.*", got.append, subscriber="observer")
            await feed.publish("market.tick", 1)
            await bus.publish("control.pause")
            with pytest.raises(TopicPermissionError) as caught:
                await feed.publish("orders.created", 1)
            assert str(caught.value) == (
                "component 'feed' may not publish 'orders.created': it declares "
                "publishes=['market.*']; add a matching pattern to its publishes list"
            )
            with pytest.raises(TopicPermissionError, match="may not subscribe to 'market.\\*'"):
                await feed.subscribe("market.*", got.append)
            with pytest.raises(TopicPermissionError, match="subscribe to 'control.\\*\\*'"):
                await bus.scoped("x", subscribes=["control.*"]).subscribe("control.**", got.append)
            with pytest.raises(TopicPermissionError, match="publishes=\\[\\]"):
                await bus.scoped("mute", publishes=[]).publish("a.b")
            free = bus.scoped("free")
            await free.publish("anything.goes")
            assert bus.subscriptions()[0].subscriber == "feed"
            await until(lambda: len(got) == 2)
        return got

    got = run(scenario())
    assert {(e.type, e.source) for e in got} == {("market.tick", "feed"), ("control.pause", None)}
    assert issubclass(TopicPermissionError, PermissionError)


def test_stop_delivers_queued_events_before_returning() -> None:
    """stop() lets workers finish what is queued, bounded by its timeout."""

    async def scenario() -> tuple[list[int], float, Any]:
        got: list[int] = []

        async def handler(envelope: Envelope) -> None:
            await asyncio.sleep(0.002)
            got.append(envelope.data)

        bus = memory_bus()
        await bus.start()
        await bus.subscribe("s.x", handler)
        for i in range(50):
            await bus.publish("s.x", i)
        started = time.perf_counter()
        await bus.stop(timeout=5)
        return got, time.perf_counter() - started, bus.statistics()

    got, elapsed, stats = run(scenario())
    assert got == list(range(50)) and elapsed < 2 and stats.dropped == 0


def test_stop_gives_up_after_its_timeout_and_counts_the_dropped() -> None:
    """A hanging handler delays stop() only by the timeout; what is left is counted as dropped."""

    async def scenario() -> tuple[float, Any]:
        async def hang(envelope: Envelope) -> None:
            await asyncio.sleep(3600)

        bus = memory_bus()
        await bus.start()
        await bus.subscribe("s.x", hang)
        for i in range(5):
            await bus.publish("s.x", i)
        started = time.perf_counter()
        await bus.stop(timeout=0.1)
        return time.perf_counter() - started, bus.statistics()

    elapsed, stats = run(scenario())
    assert 0.09 <= elapsed < 0.5 and stats.dropped == 4


def test_bus_refuses_use_before_start_and_after_stop() -> None:
    """Publishing or subscribing on a bus not started, or stopped, raises BusClosedError."""

    async def scenario() -> None:
        bus = memory_bus()
        with pytest.raises(BusClosedError, match="await bus.start"):
            await bus.publish("a.b")
        await bus.start()
        await bus.start()  # idempotent
        await bus.stop()
        with pytest.raises(BusClosedError, match="is stopped"):
            await bus.publish("a.b")
        with pytest.raises(BusClosedError):
            await bus.subscribe("a.b", lambda e: None)
        with pytest.raises(BusClosedError, match="was stopped"):
            await bus.start()

    run(scenario())


def test_inspection_reports_subscriptions_and_statistics() -> None:
    """subscriptions() and statistics() report patterns, subscribers, depths, policies and counts."""

    async def scenario() -> tuple[Any, Any]:
        gate = asyncio.Event()

        async def held(envelope: Envelope) -> None:
            await gate.wait()

        async with memory_bus() as bus:
            await bus.subscribe("a.*", held, subscriber="slow", overflow="drop_oldest")
            await bus.subscribe("a.b", lambda e: None, subscriber="fast")
            for _ in range(4):
                await bus.publish("a.b")
            await asyncio.sleep(0.01)
            infos, stats = bus.subscriptions(), bus.statistics()
            gate.set()
        return infos, stats

    infos, stats = run(scenario())
    assert [(i.pattern, i.subscriber, i.queue_depth, i.overflow) for i in infos] == [
        ("a.*", "slow", 3, Overflow.DROP_OLDEST),
        ("a.b", "fast", 0, Overflow.BLOCK),
    ]
    assert stats.published == 4 and stats.delivered == 4 and stats.queue_depths == {"slow": 3, "fast": 0}


def test_dead_letters_can_be_replayed_to_their_subscriber() -> None:
    """replay_dead_letter re-delivers one dead letter; replay_dead_letters the rest."""

    async def scenario() -> tuple[list[int], int, list[Any]]:
        got: list[int] = []
        broken = True

        def handler(envelope: Envelope) -> None:
            if broken:
                raise RuntimeError("down")
            got.append(envelope.data)

        async with memory_bus(max_retries=0) as bus:
            await bus.subscribe("job.run", handler, subscriber="w")
            for i in range(3):
                await bus.publish("job.run", i)
            await until(lambda: bus.statistics().dead_lettered == 3)
            letters = await bus.dead_letters()
            broken = False
            await bus.replay_dead_letter(letters[1].id)
            await until(lambda: got == [1])
            with pytest.raises(DeadLetterNotFoundError, match=repr(letters[1].id)):
                await bus.replay_dead_letter(letters[1].id)
            count = await bus.replay_dead_letters()
            await until(lambda: sorted(got) == [0, 1, 2])
            remaining = await bus.dead_letters()
        return got, count, remaining

    got, count, remaining = run(scenario())
    assert count == 2 and remaining == []


def test_replay_needs_a_live_subscription_of_that_subscriber() -> None:
    """Replaying a dead letter whose subscriber is gone raises ReplayError and keeps it."""

    async def scenario() -> None:
        async with memory_bus(max_retries=0) as bus:
            sub = await bus.subscribe("job.run", lambda e: 1 / 0, subscriber="w")
            await bus.publish("job.run")
            await until(lambda: bus.statistics().dead_lettered == 1)
            sub.cancel()
            (letter,) = await bus.dead_letters()
            with pytest.raises(ReplayError, match="subscriber 'w' has no live subscription"):
                await bus.replay_dead_letter(letter.id)
            assert len(await bus.dead_letters()) == 1

    run(scenario())


def test_live_reconfigure_changes_retries_of_running_subscriptions() -> None:
    """reconfigure() applies live keys (max_retries here) to running subscriptions."""

    async def scenario() -> list[int]:
        attempts: list[int] = []

        def handler(envelope: Envelope) -> None:
            attempts.append(envelope.attempts)
            raise RuntimeError("no")

        async with memory_bus(max_retries=0) as bus:
            await bus.subscribe("job.run", handler)
            bus.reconfigure(bus.settings.with_changes(max_retries=2))
            await bus.publish("job.run")
            await until(lambda: bus.statistics().dead_lettered == 1)
        return attempts

    assert run(scenario()) == [1, 2, 3]


def test_handler_raising_cancelled_error_is_a_failure_not_the_end_of_the_worker() -> None:
    """A handler that raises CancelledError on its own is retried/dead-lettered; delivery goes on."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        got: list[Any] = []

        async def handler(envelope: Envelope) -> None:
            if envelope.data == "bad":
                raise asyncio.CancelledError()
            got.append(envelope.data)

        async with memory_bus(max_retries=0) as bus:
            await bus.subscribe("job.run", handler, subscriber="w")
            await bus.publish("job.run", "bad")
            await bus.publish("job.run", "good")
            await until(lambda: got == ["good"])
            return got, await bus.dead_letters()

    got, (letter,) = run(scenario())
    assert "CancelledError" in letter.error


def test_publish_many_checks_everything_before_queueing_anything() -> None:
    """publish_many queues (topic, data) pairs in order, or none if one of them is invalid."""

    async def scenario() -> tuple[list[Any], list[Envelope]]:
        got: list[Any] = []
        async with memory_bus() as bus:
            await bus.subscribe("m.*", lambda e: got.append((e.type, e.data, e.source)))
            envelopes = await bus.publish_many([("m.a", 1), ("m.b", 2)], source="feed")
            with pytest.raises(InvalidTopicError):
                await bus.publish_many([("m.c", 3), ("m..d", 4)])
            feed = bus.scoped("feed", publishes=["m.*"])
            await feed.publish_many([("m.e", 5)])
            with pytest.raises(TopicPermissionError):
                await feed.publish_many([("m.f", 6), ("x.y", 7)])
        return got, envelopes

    got, envelopes = run(scenario())
    assert got == [("m.a", 1, "feed"), ("m.b", 2, "feed"), ("m.e", 5, "feed")]
    assert [e.type for e in envelopes] == ["m.a", "m.b"]


def test_the_fast_publish_path_builds_the_same_envelope_as_the_general_one() -> None:
    """A default-priority publish (the shortcut) and a checked one give envelopes alike in all
    but id and time; ids are unique, stable, and drawn once even when threads race to read them."""
    import threading

    async def scenario() -> tuple[list[Envelope], Envelope]:
        async with memory_bus() as bus:
            fast = [await bus.publish("a.b", {"i": i}, source="s", correlation_id="c") for i in range(200)]
            general = await bus.publish("a.b", {"i": 0}, source="s", correlation_id="c", metadata={})
            return fast, general

    fast, general = run(scenario())
    assert all(isinstance(e, Envelope) for e in fast)
    first = fast[0].to_dict()
    assert {**first, "id": None, "time": None} == {**general.to_dict(), "id": None, "time": None}
    assert fast[0].attempts == 1 and fast[0].receipt is None and repr(fast[0]).startswith("Envelope(")
    assert fast[0].replace(data=1).data == 1 and fast[0].with_metadata(k=1).metadata == {"k": 1}
    seen: list[str] = []
    barrier = threading.Barrier(4)

    def read() -> None:
        barrier.wait()
        seen.extend(envelope.id for envelope in fast[1:])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == len(fast) - 1 and len(seen) == 4 * (len(fast) - 1)
    ids = {e.id for e in fast} | {general.id}
    assert len(ids) == len(fast) + 1 and fast[0].id == fast[0].id


def test_a_mailbox_is_plain_only_while_nothing_outranks_the_default_and_no_publisher_waits() -> None:
    """The worker takes the head of the default bucket itself only while ``plain``: an urgent
    event queued, or a publisher waiting for room, sends it through ``pop`` (priority order,
    waking the publisher)."""

    async def scenario() -> list[object]:
        mailbox, seen = Mailbox(2), []
        mailbox.put(Envelope("t", 1))
        seen.append(mailbox.plain)
        mailbox.put(Envelope("t", 2, priority=9))
        seen.append(mailbox.plain)
        waiting = asyncio.create_task(mailbox.wait_space())
        await asyncio.sleep(0)
        seen.append(mailbox.plain)
        seen.append(mailbox.pop().data)  # type: ignore[union-attr]  # the urgent one first
        await waiting  # room again: the publisher was woken
        seen.append((mailbox.plain, mailbox.putters))  # top is still an upper bound: one more pop
        seen.append(mailbox.pop().data)  # type: ignore[union-attr]
        seen.append((mailbox.plain, mailbox.pop()))
        return seen

    assert run(scenario()) == [True, False, False, 2, (False, deque()), 1, (True, None)]
