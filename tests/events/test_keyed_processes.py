"""Keyed partitions across real processes: affinity and order, a join, a SIGKILL, a SIGSTOP.

Each member is its own Python process (keyed_member.py) on the real Redis, in one group on a
topic keyed over 8 partitions. Handlers and hooks write what they do to one Redis list, so the
list is the order in which things happened across every process; the test adds "killed NAME"
and "stopped NAME" when it signals a member. ``_ownership_violations`` replays that record and
names every moment a partition had two live owners or a key two handlers at once.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from framework.events.partitioning import partition_of
from framework.events.redis.bus import RedisBus
from tests.events.conftest import SIGNING_KEY, wait_until
from tests.events.keyed_member import GROUP, TOPIC, settings

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]
SCRIPT = Path(__file__).with_name("keyed_member.py")
KEYS = [f"key-{i}" for i in range(10)]
LEASE_MS, HEARTBEAT_MS = 600, 150


class Member:
    """One member process; what it prints (its log lines) is kept, read by a thread."""

    def __init__(self, url: str, prefix: str, name: str, hang_seq: int = -1, hang_seconds: float = 0.0) -> None:
        self.name = name
        args = (url, prefix, name, SIGNING_KEY, str(LEASE_MS), str(HEARTBEAT_MS), str(hang_seq), str(hang_seconds))
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, cwd=Path(__file__).parents[2],
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # drained to the end, so a chatty member never blocks
            self.lines.append(line)
            if line.strip() == "ready":
                self.ready.set()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while not self.ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"member {self.name} did not get ready:\n{''.join(self.lines)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def members(redis_url: str, prefix: str) -> Iterator[Callable[..., list[Member]]]:
    """Start members (in parallel) and wait until each is ready; all are stopped after the test."""
    started: list[Member] = []

    def start(*names: str, **hang: float) -> list[Member]:
        new = [Member(redis_url, prefix, name, **hang) for name in names]  # type: ignore[arg-type]
        started.extend(new)
        for member in new:
            member.wait_ready()
        return new

    yield start
    for member in started:
        member.stop()


# the record

def _log(client: redis.Redis, prefix: str) -> list[list[str]]:
    return [item.decode().split(" ") for item in client.lrange(f"{prefix}:log", 0, -1)]


def _ended(client: redis.Redis, prefix: str) -> set[int]:
    return {int(r[3]) for r in _log(client, prefix) if r[0] == "end"}


def _owned_by(record: list[list[str]]) -> dict[str, set[int]]:
    """Each member's partitions at the end of the record, by its hooks."""
    owned: dict[str, set[int]] = defaultdict(set)
    for kind, name, *rest in record:
        if kind in ("assigned", "revoked") and rest[0]:
            parts = {int(p) for p in rest[0].split(",")}
            owned[name] = owned[name] | parts if kind == "assigned" else owned[name] - parts
    return owned


def _ownership_violations(record: list[list[str]]) -> list[str]:
    """Replay the record: every partition has at most one live owner, a member handles only what
    it owns, and a key is never in two handlers at once. A killed member's partitions may be
    taken; a stopped one's too, and it must then start nothing on them until it has revoked."""
    holders: dict[int, set[str]] = defaultdict(set)
    dead: set[str] = set()
    stale: set[str] = set()  # stopped, and its partitions taken: until its next "revoked"
    stopped: set[str] = set()
    active: dict[str, str] = {}  # key -> the member whose handler runs
    problems: list[str] = []
    for at, (kind, name, *rest) in enumerate(record):
        if kind == "killed":
            dead.add(name)
        elif kind == "stopped":
            stopped.add(name)
        elif kind == "assigned":
            for p in map(int, rest[0].split(",")):
                for other in holders[p] - {name}:
                    if other in dead or other in stopped:
                        stale.add(other)
                    else:
                        problems.append(f"#{at}: partition {p} assigned to {name} while {other} holds it")
                    holders[p].discard(other)
                holders[p].add(name)
        elif kind == "revoked":
            for p in map(int, rest[0].split(",")):
                holders[p].discard(name)
            stale.discard(name)
            stopped.discard(name)
        elif kind == "start":
            key, p = rest[0], partition_of(rest[0], 8)
            if name not in holders[p]:
                problems.append(f"#{at}: {name} started {key} {rest[1]} without owning partition {p}")
            other = active.get(key)
            if other is not None and other != name and other not in dead and other not in stale:
                problems.append(f"#{at}: {name} started {key} {rest[1]} while {other} handles it")
            active[key] = name
        elif kind == "end" and active.get(rest[0]) == name:
            del active[rest[0]]
    return problems


def _per_key_order(record: list[list[str]], total: int, duplicates_allowed: set[int]) -> None:
    """Every event handled, each key's in publish order; a second handling only where allowed."""
    ends: dict[str, list[int]] = defaultdict(list)
    for _, _, key, *seq in (r for r in record if r[0] == "end"):
        ends[key].append(int(seq[0]))
    for index, key in enumerate(KEYS):
        seen = ends[key]
        first = list(dict.fromkeys(seen))
        assert first == list(range(index, total, len(KEYS))), (key, seen)
        twice = {s for s in first if seen.count(s) > 1}
        assert twice <= duplicates_allowed, (key, twice, duplicates_allowed)


def _pending_seqs(client: redis.Redis, prefix: str, member: str) -> set[int]:
    """The events whose entries are pending (delivered, not acknowledged) under ``member``."""
    seqs = set()
    for p in range(8):
        stream = f"{prefix}:{{{TOPIC}}}:{p}"
        for entry in client.xpending_range(stream, GROUP, "-", "+", 1000, consumername=member):
            [(_, fields)] = client.xrange(stream, entry["message_id"], entry["message_id"])
            seqs.add(int(json.loads(fields[b"e"][64:])["data"]["seq"]))
    return seqs


def _publish(url: str, prefix: str, seqs: range, pause: float = 0.0) -> None:
    async def publish() -> None:
        async with RedisBus(settings(url, prefix, "publisher", SIGNING_KEY, LEASE_MS, HEARTBEAT_MS)) as bus:
            for seq in seqs:
                await bus.publish(TOPIC, {"seq": seq, "key": KEYS[seq % len(KEYS)]})
                if pause:
                    await asyncio.sleep(pause)

    asyncio.run(publish())


def _sizes(client: redis.Redis, prefix: str, names: str) -> list[int]:
    owned = _owned_by(_log(client, prefix))
    return sorted(len(owned[name]) for name in names)


def _in_background(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_three_processes_keep_each_key_in_order_and_a_fourth_takes_its_share(
    members: Callable[..., list[Member]], redis_url: str, prefix: str, raw_redis: redis.Redis
) -> None:
    """Three processes, 10 keys: each key handled by one process at a time, in publish order. A
    fourth joins mid-stream: partitions move to it, the move is logged with its reason, and no
    event is handled by two owners at once, lost, or handled twice."""
    total, after_join = 400, 100
    a, b, c = members("a", "b", "c")
    wait_until(lambda: _sizes(raw_redis, prefix, "abc") == [2, 3, 3], 10, "8 partitions over three members")
    before = range(total - after_join)
    publishing = _in_background(lambda: _publish(redis_url, prefix, before, pause=0.005))
    wait_until(lambda: len(_ended(raw_redis, prefix)) >= total // 4, 20, "a quarter of the events handled")
    (d,) = members("d")
    wait_until(lambda: _sizes(raw_redis, prefix, "abcd") == [2, 2, 2, 2], 10, "8 partitions over four members")
    # The rest once d owns its share: on a loaded machine the first part can be all handled
    # before d's process is up, and then d would have nothing to show it handles what it took.
    publishing.join(30)
    _publish(redis_url, prefix, range(total - after_join, total), pause=0.002)
    wait_until(lambda: len(_ended(raw_redis, prefix)) == total, 20, "every event handled")

    record = _log(raw_redis, prefix)
    assert _ownership_violations(record) == []
    _per_key_order(record, total, duplicates_allowed=set())
    assert any(r[0] == "end" and r[1] == "d" for r in record)  # the newcomer handled keys it took
    moved = [line for m in (a, b, c) for line in m.lines if "gave up partitions" in line and "(joined: d)" in line]
    moved_partitions = {int(p) for line in moved for p in re.findall(r"\d+", line.split("partitions [")[1].split("]")[0])}
    assert moved_partitions == _owned_by(record)["d"], moved  # each move logged, with its reason


def _signal_mid_handler(
    members: Callable[..., list[Member]], redis_url: str, prefix: str, raw_redis: redis.Redis,
    signal_number: signal.Signals, seqs: range, hang: int,
) -> tuple[Member, Member, set[int]]:
    """Members x and y share the partitions; ``seqs`` are published; whichever handles ``hang``
    first waits in that handler and gets ``signal_number`` (recorded as killed or stopped).
    (victim, survivor, the events pending under the victim at that moment)."""
    both = members("x", "y", hang_seq=hang, hang_seconds=60.0 if signal_number is signal.SIGKILL else 0.3)
    wait_until(lambda: _sizes(raw_redis, prefix, "xy") == [4, 4], 10, "8 partitions over two members")
    _publish(redis_url, prefix, seqs)
    wait_until(lambda: any(r[0] == "hang" for r in _log(raw_redis, prefix)), 10, "a handler mid-event")
    victim_name = next(r[1] for r in _log(raw_redis, prefix) if r[0] == "hang")
    victim, survivor = sorted(both, key=lambda m: m.name != victim_name)
    victim.process.send_signal(signal_number)
    if signal_number is signal.SIGKILL:
        victim.process.wait(10)
    raw_redis.rpush(f"{prefix}:log", f"{'killed' if signal_number is signal.SIGKILL else 'stopped'} {victim.name}")
    return victim, survivor, _pending_seqs(raw_redis, prefix, victim.name)


def test_a_sigkilled_owner_s_unacknowledged_events_go_to_the_new_owner(
    members: Callable[..., list[Member]], redis_url: str, prefix: str, raw_redis: redis.Redis
) -> None:
    """SIGKILL the owner mid-handler: after its lease its partitions move, the survivor handles
    what it left, nothing is lost, and only entries it never acknowledged are handled twice."""
    total, hang = 100, 37
    victim, survivor, unacknowledged = _signal_mid_handler(
        members, redis_url, prefix, raw_redis, signal.SIGKILL, range(total), hang
    )
    assert hang in unacknowledged
    wait_until(lambda: len(_ended(raw_redis, prefix)) == total, 20, "every event handled")

    record = _log(raw_redis, prefix)
    assert _ownership_violations(record) == []
    _per_key_order(record, total, duplicates_allowed=unacknowledged)
    assert _owned_by(record)[survivor.name] == set(range(8))
    assert ["end", survivor.name, KEYS[hang % len(KEYS)], str(hang)] in record
    held = ", ".join(map(str, sorted(_owned_by(record)[victim.name])))  # never revoked: killed
    took = f"'{survivor.name}' took partitions [{held}] (left or expired: {victim.name})"
    assert any(took in line for line in survivor.lines), survivor.lines


def test_a_sigstopped_owner_past_its_lease_handles_nothing_more_on_its_lost_partitions(
    members: Callable[..., list[Member]], redis_url: str, prefix: str, raw_redis: redis.Redis
) -> None:
    """SIGSTOP an owner mid-handler past its lease; the other takes over. After SIGCONT its late
    handler ends, its ack is not accepted (the survivor handled that event too), it revokes what
    it lost, logging why, and from then on handles only what it is assigned again."""
    total, hang = 100, 37
    victim, survivor, unacknowledged = _signal_mid_handler(
        members, redis_url, prefix, raw_redis, signal.SIGSTOP, range(total), hang
    )
    wait_until(lambda: len(_ended(raw_redis, prefix)) == total, 20, "every event handled by the survivor")
    _publish(redis_url, prefix, range(total, total + 20))
    wait_until(lambda: len(_ended(raw_redis, prefix)) == total + 20, 20, "the events published meanwhile")

    victim.process.send_signal(signal.SIGCONT)
    wait_until(lambda: _sizes(raw_redis, prefix, "xy") == [4, 4], 10, "the resumed member back in the group")
    _publish(redis_url, prefix, range(total + 20, total + 60))
    wait_until(lambda: len(_ended(raw_redis, prefix)) == total + 60, 20, "the events after the resume")

    record = _log(raw_redis, prefix)
    assert _ownership_violations(record) == []
    _per_key_order(record, total + 60, duplicates_allowed=unacknowledged)
    late = ["end", victim.name, KEYS[hang % len(KEYS)], str(hang)]
    assert late in record and ["end", survivor.name, *late[2:]] in record
    assert any("gave up partitions" in line and "lease" in line for line in victim.lines), victim.lines
