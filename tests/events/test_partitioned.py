"""Keyed partitions on the Redis bus, against a real Redis: affinity, order, rebalances, crashes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from framework.events.envelope import Envelope
from framework.events.memory import MemoryBus
from framework.events.partitioning import Partition, partition_of
from framework.events.records import PartitionStatus
from framework.events.redis.bus import RedisBus
from framework.events.redis.signing import Signer
from framework.events.settings import BusSettings, TopicSettings
from tests.events.conftest import SIGNING_KEY, run, until

pytestmark = pytest.mark.redis
Settings = Callable[..., BusSettings]
TOPIC = "orders.placed"
KEYS = [f"key-{i}" for i in range(10)]
GROUP = "svc"


def _settings(redis_settings: Settings, member: str) -> BusSettings:
    # A short lease keeps the crash test quick; the heartbeat is a quarter of it.
    return redis_settings(
        partitions=8,
        topics={TOPIC: TopicSettings(key="key")},  # keyed by config: members join before any publish
        redis={"consumer": member, "lease_ms": 600, "heartbeat_ms": 150},
    )


class Record:
    """What the handlers saw: per key, (member, seq) in handling order; keys being handled now."""

    def __init__(self) -> None:
        self.handled: dict[str, list[tuple[str, int]]] = {key: [] for key in KEYS}
        self.active: set[str] = set()
        self.overlaps: list[str] = []  # keys handled by two members at once
        self.stuck: list[tuple[str, int]] = []  # (key, seq) of the handlers that hang
        self.redelivered: list[tuple[str, int]] = []  # (member, seq) handled with attempts > 1

    def handler(self, member: str, stuck: asyncio.Event | None = None) -> Callable[[Envelope], Any]:
        async def handle(envelope: Envelope) -> None:
            key = envelope.key or ""
            if key in self.active:
                self.overlaps.append(key)
            self.active.add(key)
            try:
                if stuck is not None:
                    self.stuck.append((key, envelope.data["seq"]))
                    await stuck.wait()  # the owner "crashed" (or paused) mid-handler
                if envelope.attempts > 1:
                    self.redelivered.append((member, envelope.data["seq"]))
                await asyncio.sleep(0.001)
                self.handled[key].append((member, envelope.data["seq"]))
            finally:
                self.active.discard(key)

        return handle

    def count(self) -> int:
        return sum(len(events) for events in self.handled.values())

    def seqs(self, key: str, member: str | None = None) -> list[int]:
        return [seq for who, seq in self.handled[key] if member is None or who == member]


async def _member(settings: BusSettings, record: Record, name: str, **options: Any) -> RedisBus:
    bus = RedisBus(settings)
    await bus.start()
    await bus.subscribe(TOPIC, record.handler(name, options.pop("stuck", None)), subscriber=GROUP, **options)
    return bus


async def _owned(buses: list[RedisBus]) -> list[int]:
    return [sum(len(s.owned) for s in await bus.partitions()) for bus in buses]


async def _balanced(buses: list[RedisBus], timeout: float = 5.0) -> None:
    """Wait until the 8 partitions are spread evenly over the buses."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        owned = await _owned(buses)
        if sum(owned) == 8 and max(owned) - min(owned) <= 1:
            return
        if loop.time() > deadline:
            pytest.fail(f"partitions not balanced after {timeout} s: {owned}")
        await asyncio.sleep(0.02)


async def _acknowledged(buses: list[RedisBus], timeout: float = 3.0) -> list[PartitionStatus]:
    """Wait until no owned partition has a lag (every entry acknowledged); the statuses then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        statuses = [s for bus in buses for s in await bus.partitions()]
        if not any(sum(s.lag.values()) for s in statuses):
            return statuses
        if loop.time() > deadline:
            pytest.fail(f"entries still unacknowledged after {timeout} s: {statuses}")
        await asyncio.sleep(0.02)


async def _publish(bus: RedisBus, seqs: range, pause: float = 0.0) -> None:
    for seq in seqs:
        await bus.publish(TOPIC, {"seq": seq, "key": KEYS[seq % len(KEYS)]})
        if pause:
            await asyncio.sleep(pause)


async def _victim_and_survivor(
    redis_settings: Settings, record: Record, hang: asyncio.Event, total: int
) -> list[RedisBus]:
    """[victim, survivor, publisher]: the events published, the victim hanging in a handler."""
    victim = await _member(_settings(redis_settings, "victim"), record, "victim", stuck=hang)
    survivor = await _member(_settings(redis_settings, "survivor"), record, "survivor")
    publisher = RedisBus(_settings(redis_settings, "pub"))
    await publisher.start()
    await _balanced([victim, survivor])
    await _publish(publisher, range(total))
    await until(lambda: bool(record.stuck), 5.0, "the victim mid-handler")
    return [victim, survivor, publisher]


def _assert_complete_in_order(record: Record, total: int) -> None:
    for index, key in enumerate(KEYS):
        assert record.seqs(key) == list(range(index, total, len(KEYS))), key


def test_a_keyed_event_goes_to_its_partition_stream_signed_for_it(
    redis_settings: Settings, raw_redis: redis.Redis, prefix: str
) -> None:
    """A keyed event lands in its key's partition stream, signed for that stream; the topic is recorded as keyed."""

    async def scenario() -> Envelope:
        settings = redis_settings(partitions=8)
        async with RedisBus(settings) as bus:
            await bus.publish(TOPIC, {"seq": -1})
            return await bus.publish(TOPIC, {"seq": 0}, key="key-3")

    envelope = run(scenario())
    stream = f"{prefix}:{{{TOPIC}}}:{partition_of('key-3', 8)}"
    ((_, fields),) = raw_redis.xrange(stream)
    signature, payload = fields[b"e"][:64], fields[b"e"][64:]
    assert Envelope.from_json(payload) == envelope and envelope.key == "key-3"
    assert signature == Signer(SIGNING_KEY).sign(payload, stream)
    assert raw_redis.hgetall(f"{prefix}:@keyed") == {TOPIC.encode(): b"8"}
    assert raw_redis.xlen(f"{prefix}:{TOPIC}") == 1  # the unkeyed event: the plain stream, as before


@contextlib.asynccontextmanager
async def _three_members(
    redis_settings: Settings, record: Record
) -> AsyncIterator[tuple[list[RedisBus], RedisBus]]:
    """Buses a, b and c in one group, sharing the partitions, and a publisher; all stopped after
    (a bus the test adds to the list too)."""
    buses = [await _member(_settings(redis_settings, m), record, m) for m in "abc"]
    publisher = RedisBus(_settings(redis_settings, "pub"))
    await publisher.start()
    try:
        await _balanced(buses)
        yield buses, publisher
    finally:
        for bus in [publisher, *buses]:
            await bus.stop()


def test_three_members_each_key_goes_to_one_member_in_publish_order(redis_settings: Settings) -> None:
    """Three buses in one group, 10 keys, P=8: every key's events are handled by one bus, in order."""
    record, total = Record(), 300

    async def scenario() -> None:
        async with _three_members(redis_settings, record) as (buses, publisher):
            await _publish(publisher, range(total))
            await until(lambda: record.count() >= total, 10.0, "every event handled")
            statuses = await _acknowledged(buses)
            assert sorted(p for s in statuses for p in s.owned) == list(range(8))
            assert all(s.subscriber == GROUP and s.topic == TOPIC and s.rebalances >= 1 for s in statuses)

    run(scenario())
    _assert_complete_in_order(record, total)
    for key in KEYS:
        assert len({member for member, _ in record.handled[key]}) == 1, record.handled[key]
    assert record.overlaps == []


def test_a_fourth_member_joins_mid_stream_partitions_move_nothing_overlaps_or_is_lost(
    redis_settings: Settings,
) -> None:
    """A bus joining mid-stream takes partitions; no key is handled by two buses at once, none is lost."""
    record, total = Record(), 400

    async def scenario() -> None:
        async with _three_members(redis_settings, record) as (buses, publisher):
            stream = asyncio.create_task(_publish(publisher, range(total), pause=0.002))
            await until(lambda: record.count() >= total // 4, 10.0, "a quarter handled")
            buses.append(await _member(_settings(redis_settings, "d"), record, "d"))
            await _balanced(buses)
            await stream
            await until(lambda: record.count() >= total, 10.0, "every event handled")

    run(scenario(), timeout=40.0)
    _assert_complete_in_order(record, total)  # nothing lost, nothing handled twice
    assert record.overlaps == []
    assert any(record.seqs(key, "d") for key in KEYS)  # the newcomer took keys over


def test_a_crashed_owners_unacknowledged_entries_go_to_the_new_owner(redis_settings: Settings) -> None:
    """An owner abandoned mid-handler: once its lease runs out, the other bus handles everything it left."""
    record, total = Record(), 100
    stuck = asyncio.Event()

    async def scenario() -> None:
        victim, survivor, publisher = buses = await _victim_and_survivor(redis_settings, record, stuck, total)
        try:
            for partitioned in victim._partitioned.values():  # a crash: no revocation, no release
                await partitioned.abandon()
            await until(lambda: record.count() >= total, 10.0, "every event handled by the survivor")
            assert (await _owned([survivor])) == [8]
        finally:
            for bus in buses:
                await bus.stop(timeout=0.5)

    run(scenario(), timeout=30.0)
    assert all(member == "survivor" for key in KEYS for member, _ in record.handled[key])
    _assert_complete_in_order(record, total)
    # The entry the victim hung on was pending under its name: the survivor claimed it.
    assert ("survivor", record.stuck[0][1]) in record.redelivered


def test_a_stale_owner_is_fenced_its_late_ack_refused_and_it_handles_nothing_more(
    redis_settings: Settings,
) -> None:
    """An owner whose heartbeats stop (a pause) loses its partitions; when it resumes, its ack is refused and it handles nothing more."""
    record, total = Record(), 100
    paused = asyncio.Event()

    async def scenario() -> None:
        stale, _, publisher = buses = await _victim_and_survivor(redis_settings, record, paused, total)
        try:
            for partitioned in stale._partitioned.values():  # heartbeats stop; the reading goes on
                for keyed in partitioned.topics.values():
                    await keyed.coordinator.abandon()
            await until(lambda: record.count() >= total, 10.0, "every event handled by the survivor")
            paused.set()  # the stale owner resumes: its handler ends, its ack must be refused
            await until(lambda: record.count() >= total + 1, 3.0, "the late handler")
            await _publish(publisher, range(total, total + 20))  # none may reach the stale owner
            await until(lambda: record.count() >= total + 21, 10.0, "the new events")
        finally:
            for bus in buses:
                await bus.stop(timeout=0.5)

    run(scenario(), timeout=30.0)
    key, seq = record.stuck[0]
    assert [s for who, s in record.handled[key] if who == "victim"] == [seq]  # the late one only
    assert sum(1 for k in KEYS for who, _ in record.handled[k] if who == "victim") == 1
    assert sorted(record.seqs(key, "survivor")) == record.seqs(key, "survivor")
    assert record.count() == total + 21  # every event once by the survivor, plus the late duplicate


def test_hooks_get_partitions_and_revocation_ends_before_the_new_owner_is_assigned(
    redis_settings: Settings,
) -> None:
    """The hooks get Partition objects; what the first bus gives up is revoked before the second is assigned it."""
    calls: list[tuple[str, str, frozenset[Partition]]] = []

    def hooks(member: str) -> dict[str, Any]:
        async def revoked(partitions: frozenset[Partition]) -> None:
            await asyncio.sleep(0.05)  # a slow hand-over: the new owner must still wait for it
            calls.append((member, "revoked", partitions))

        return {
            "on_partitions_assigned": lambda partitions: calls.append((member, "assigned", partitions)),
            "on_partitions_revoked": revoked,
        }

    async def scenario() -> None:
        record = Record()
        first = await _member(_settings(redis_settings, "a"), record, "a", **hooks("a"))
        buses = [first]
        try:
            await _balanced(buses)
            buses.insert(0, await _member(_settings(redis_settings, "b"), record, "b", **hooks("b")))
            await _balanced(buses)
        finally:
            for bus in buses:
                await bus.stop()

    run(scenario())
    everything = frozenset(Partition(TOPIC, p, 8) for p in range(8))
    assert calls[0] == ("a", "assigned", everything)
    moved = [(m, kind, ps) for m, kind, ps in calls if m == "b" and kind == "assigned"][0][2]
    revoked_at = calls.index(("a", "revoked", moved))
    assigned_at = calls.index(("b", "assigned", moved))
    assert len(moved) == 4 and revoked_at < assigned_at
    assert all(p.holds(key) == (partition_of(key, 8) == p.index) for p in moved for key in KEYS)


def test_the_memory_bus_accepts_partition_hooks_and_never_calls_them() -> None:
    """Keys are no-ops in memory: the hooks are accepted, never called, and there are no partitions."""
    calls: list[object] = []

    async def scenario() -> list[object]:
        async with MemoryBus() as bus:
            got: list[Envelope] = []
            await bus.subscribe(
                TOPIC, got.append, on_partitions_assigned=calls.append, on_partitions_revoked=calls.append
            )
            await bus.publish(TOPIC, {"seq": 0}, key="key-1")
            await until(lambda: len(got) == 1, what="delivery")
            return list(await bus.partitions())

    assert run(scenario()) == [] and calls == []


def test_a_pattern_subscriber_finds_a_keyed_topic_its_publishers_recorded(redis_settings: Settings) -> None:
    """With no key in config, a pattern subscriber finds the keyed topic in '@keyed' and reads its partitions in order."""
    got: list[tuple[str | None, int]] = []

    async def scenario() -> None:
        settings = redis_settings(partitions=4, redis={"lease_ms": 600, "heartbeat_ms": 150})
        async with RedisBus(settings) as bus:
            await bus.subscribe("orders.*", lambda e: got.append((e.key, e.data["seq"])), subscriber=GROUP)
            for seq in range(40):
                await bus.publish(TOPIC, {"seq": seq}, key=KEYS[seq % 3])
            await until(lambda: len(got) >= 40, 5.0, "the keyed events")
            [status] = await bus.partitions()
            assert status.topic == TOPIC and status.owned == (0, 1, 2, 3)

    run(scenario())
    for index, key in enumerate(KEYS[:3]):
        assert [seq for k, seq in got if k == key] == list(range(index, 40, 3))


def test_a_failed_partition_entry_is_dead_lettered_and_its_partition_goes_on_in_order(
    redis_settings: Settings,
) -> None:
    """A handler failing on one entry: it is dead-lettered (and acknowledged), the partition's next entries follow in order."""
    got: list[int] = []

    def handle(envelope: Envelope) -> None:
        if envelope.data["seq"] == 3:
            raise ValueError("bad order")
        got.append(envelope.data["seq"])

    async def scenario() -> list[Any]:
        async with RedisBus(_settings(redis_settings, "a")) as bus:
            await bus.subscribe(TOPIC, handle, subscriber=GROUP)
            await _balanced([bus])
            for seq in range(10):
                await bus.publish(TOPIC, {"seq": seq, "key": "key-0"})
            await until(lambda: len(got) >= 9, 5.0, "the other entries")
            await _acknowledged([bus])
            return await bus.dead_letters()

    letters = run(scenario())
    assert got == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    [letter] = letters
    assert letter.subscriber == GROUP and letter.envelope is not None and letter.envelope.data["seq"] == 3
