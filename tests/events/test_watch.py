"""Watching a bus: an observer of every event published here, never a subscriber."""

from __future__ import annotations

from typing import Any

import pytest

from framework.events.envelope import Envelope
from framework.events.memory import MemoryBus
from framework.events.settings import BusSettings
from tests.events.conftest import run


def test_a_watcher_sees_each_event_until_it_stops_and_adds_no_subscriber() -> None:
    async def scenario() -> tuple[list[Any], list[Any], int]:
        seen: list[Any] = []
        async with MemoryBus(BusSettings()) as bus:
            await bus.publish("w.before", 0)
            stop = bus.watch(lambda envelope: seen.append(envelope.data))
            await bus.publish("w.one", 1)
            await bus.publish_many([("w.two", 2), ("w.three", 3)])
            stop()
            stop()  # stopping twice is harmless
            await bus.publish("w.after", 4)
            return seen, [e.data for e in bus.history()], len(bus.subscriptions())

    assert run(scenario()) == ([1, 2, 3], [0, 1, 2, 3, 4], 0)


def test_a_failing_watcher_never_fails_a_publish_nor_the_other_watchers() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        seen: list[str] = []

        def broken(envelope: Envelope) -> None:
            raise RuntimeError("watcher bug")

        async with MemoryBus(BusSettings()) as bus:
            bus.watch(broken)
            bus.watch(lambda envelope: seen.append(envelope.type))
            await bus.publish("w.x", 1)
            return seen, [e.type for e in bus.history()]

    assert run(scenario()) == (["w.x"], ["w.x"])


@pytest.mark.parametrize("size", [0, 2])
def test_watchers_see_every_event_whatever_history_keeps(size: int) -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        seen: list[int] = []
        async with MemoryBus(BusSettings(history_size=size)) as bus:
            bus.watch(lambda envelope: seen.append(envelope.data))
            for value in range(5):
                await bus.publish("w.x", value)
            return seen, [e.data for e in bus.history()]

    assert run(scenario()) == ([0, 1, 2, 3, 4], [3, 4][2 - size:] if size else [])
