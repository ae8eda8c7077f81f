"""Partition leases on the real Redis: one owner per partition, sticky hand-overs, crashes, fencing.

Several coordinators share one event loop here (each with its own connection, as separate
processes would have); ``test_a_paused_process_is_fenced_after_it_resumes`` uses a real
process, stopped with SIGSTOP past its lease. Tests assert order and ownership, never times.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from framework.events.errors import InvalidTopicError, LeaseLostError, PartitionSettingsError
from framework.events.redis.connection import Connection, Keys
from framework.events.redis.coordinator import Coordinator
from framework.events.redis.leases import PartitionLeases
from framework.events.settings import RedisSettings
from tests.events.conftest import run, spawn_ready, until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]
TOPIC, GROUP, PARTITIONS = "market.tick", "analyzer", 8
LEASE_MS, HEARTBEAT = 1000, 0.2  # short, to keep the tests quick; 5 beats per lease
SCRIPT = Path(__file__).with_name("partition_member.py")


def _refuse(what: str) -> None:
    raise AssertionError(f"connection not open: cannot {what}")


async def _connection(redis_url: str, prefix: str, node: str) -> Connection:
    connection = Connection(RedisSettings(url=redis_url, stream_prefix=prefix, consumer=node), node, _refuse)
    await connection.open()
    return connection


class Group:
    """Coordinators of one group in this loop, and what their callbacks saw, in order.

    ``holders`` is who is inside its partitions by the callbacks' account (between the end of
    ``on_assigned``'s call and the end of ``on_revoked``); ``overlaps`` names any partition
    assigned while another member still had it, by the callbacks or by its own clock
    (``holds``): it must stay empty.
    """

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.redis_url, self.prefix = redis_url, prefix
        self.events: list[tuple[str, str, frozenset[int]]] = []  # (what, member, partitions)
        self.holders: dict[int, str] = {}
        self.overlaps: list[str] = []
        self.members: dict[str, Coordinator] = {}
        self._connections: list[Connection] = []

    async def join(self, name: str, url: str | None = None) -> Coordinator:
        connection = await _connection(url or self.redis_url, self.prefix, name)
        self._connections.append(connection)
        leases = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, name, lease_ms=LEASE_MS)

        async def on_assigned(partitions: frozenset[int]) -> None:
            for p in partitions:
                if p in self.holders:
                    self.overlaps.append(f"{p} to {name} while {self.holders[p]} had it")
                others = [n for n, c in self.members.items() if n != name and c.holds(p)]
                if others:
                    self.overlaps.append(f"{p} to {name} while {others} still held it by their clocks")
                self.holders[p] = name
            self.events.append(("assigned", name, partitions))

        async def on_revoked(partitions: frozenset[int]) -> None:
            self.events.append(("revoking", name, partitions))
            await asyncio.sleep(0.05)  # a hand-over that takes a while: flushing state, say
            for p in partitions:
                self.holders.pop(p, None)
            self.events.append(("revoked", name, partitions))

        coordinator = Coordinator(leases, on_assigned=on_assigned, on_revoked=on_revoked, heartbeat=HEARTBEAT)
        self.members[name] = coordinator
        await coordinator.start()
        return coordinator

    async def crash(self, name: str) -> Coordinator:
        """Stop a member's heartbeats without releasing anything, as a killed process would."""
        coordinator = self.members.pop(name)
        await coordinator.abandon()
        for p in [p for p, holder in self.holders.items() if holder == name]:
            del self.holders[p]  # a dead process holds nothing, whatever Redis says
        return coordinator

    def owners(self) -> dict[int, str]:
        return {p: name for name, c in self.members.items() for p in c.owned}

    def settled(self) -> bool:
        """Every partition owned by exactly one member, balanced over all of them."""
        owned = [p for c in self.members.values() for p in c.owned]
        counts = [len(c.owned) for c in self.members.values()]
        return sorted(owned) == list(range(PARTITIONS)) and max(counts) - min(counts) <= 1

    def last(self, what: str, name: str, partition: int) -> int:
        """Where in ``events`` the last such callback involving the partition is."""
        found = [i for i, (w, n, ps) in enumerate(self.events) if (w, n) == (what, name) and partition in ps]
        return found[-1]

    async def close(self) -> None:
        for coordinator in self.members.values():
            await coordinator.stop()
        for connection in self._connections:
            await connection.close()

    async def __aenter__(self) -> Group:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _lease_owners(group: Group) -> dict[int, tuple[str, int]]:
    connection = await _connection(group.redis_url, group.prefix, "observer")
    try:
        leases = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "observer", lease_ms=LEASE_MS)
        return await leases.owners()
    finally:
        await connection.close()


def test_keys_share_the_topic_hash_tag() -> None:
    """Partition streams and lease keys of a topic all carry the tag {topic}: one Cluster slot."""
    keys = Keys("events", "node")
    names = [keys.partition(TOPIC, 3), keys.members(TOPIC, GROUP), keys.lease(TOPIC, GROUP, 3), keys.tokens(TOPIC, GROUP)]
    assert [name[name.index("{") : name.index("}") + 1] for name in names] == ["{market.tick}"] * 4
    assert all(name.startswith("events:") for name in names)


def test_a_lease_is_taken_only_while_free_and_tokens_grow(redis_url: str, prefix: str) -> None:
    """Acquire takes free leases only; after a release the next owner gets a larger token."""

    async def scenario() -> None:
        connection = await _connection(redis_url, prefix, "node")
        try:
            a = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "a", lease_ms=LEASE_MS)
            b = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "b", lease_ms=LEASE_MS)
            first = await a.acquire([0, 1])
            assert await b.acquire([0, 1, 2]) == {2: 1}
            assert await a.acquire([0]) == {}  # held, even under its own name: no second token
            assert await b.release({0: 99}) == 0  # not b's: untouched
            assert await a.release(first) == 2
            second = await b.acquire([0, 1])
            assert all(second[p] > first[p] for p in (0, 1))
            assert await a.owners() == {0: ("b", second[0]), 1: ("b", second[1]), 2: ("b", 1)}
        finally:
            await connection.close()

    run(scenario())


def test_a_beat_renews_its_own_leases_and_reports_the_lost(redis_url: str, prefix: str, raw_redis: redis.Redis) -> None:
    """The heartbeat lists live members and owners, and names a lease no longer the member's."""

    async def scenario() -> None:
        connection = await _connection(redis_url, prefix, "node")
        try:
            a = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "a", lease_ms=LEASE_MS)
            b = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "b", lease_ms=LEASE_MS)
            tokens = await a.acquire([0, 1])
            await b.beat({})
            raw_redis.delete(connection.keys.lease(TOPIC, GROUP, 1))  # as if it had expired
            taken = await b.acquire([1])
            view = await a.beat(tokens)
            assert view.members == ("a", "b")
            assert view.owners == {0: "a", 1: "b"} and view.lost == {1}
            assert 0 < raw_redis.pttl(connection.keys.lease(TOPIC, GROUP, 0)) <= LEASE_MS
            assert await a.fenced_ack(1, tokens[1], ["0-1"]) is None  # stale token: refused
            raw_redis.xgroup_create(connection.keys.partition(TOPIC, 1), GROUP, id="$", mkstream=True)
            assert await b.fenced_ack(1, taken[1], ["0-1"]) == 0  # current token: XACK runs
        finally:
            await connection.close()

    run(scenario())


def test_a_member_that_stops_beating_expires(redis_url: str, prefix: str) -> None:
    """A member whose last beat is a lease old drops out of the next member's view."""

    async def scenario() -> None:
        connection = await _connection(redis_url, prefix, "node")
        try:
            a = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "a", lease_ms=200)
            b = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "b", lease_ms=200)
            await b.beat({})
            assert (await a.beat({})).members == ("a", "b")
            await asyncio.sleep(0.3)
            assert (await a.beat({})).members == ("a",)
        finally:
            await connection.close()

    run(scenario())


def test_every_partition_has_exactly_one_owner(redis_url: str, prefix: str) -> None:
    """Three members: each partition owned by one, 3/3/2, and the leases in Redis agree."""

    async def scenario() -> None:
        async with Group(redis_url, prefix) as group:
            for name in ("a", "b", "c"):
                await group.join(name)
            await until(group.settled, 10, "three members to share 8 partitions")
            assert sorted(Counter(group.owners().values()).values()) == [2, 3, 3]
            assert {p: owner for p, (owner, _) in (await _lease_owners(group)).items()} == group.owners()
            assert group.overlaps == []

    run(scenario(), timeout=30)


def test_a_joining_member_takes_its_share_after_the_old_owners_revoked(redis_url: str, prefix: str) -> None:
    """A third member joins 4/4: two partitions move to it, each revoked before it is assigned."""

    async def scenario() -> None:
        async with Group(redis_url, prefix) as group:
            await group.join("a")
            await group.join("b")
            await until(group.settled, 10, "two members to share 8 partitions")
            before = group.owners()
            await group.join("c")
            await until(lambda: group.settled() and len(group.members["c"].owned) == 2, 10, "c's share")
            after = group.owners()
            moved = {p: (before[p], after[p]) for p in before if before[p] != after[p]}
            assert len(moved) == 2 and {new for _, new in moved.values()} == {"c"}
            assert {old for old, _ in moved.values()} == {"a", "b"}  # one from each: 3/3/2
            stats = group.members["c"].statistics()
            assert (stats.member, stats.owned, stats.members) == ("c", tuple(sorted(moved)), ("a", "b", "c"))
            for p, (old, new) in moved.items():
                assert group.last("revoked", old, p) < group.last("assigned", new, p)
            assert group.overlaps == []

    run(scenario(), timeout=30)


def test_a_leaving_member_hands_over_only_its_partitions(redis_url: str, prefix: str) -> None:
    """A member that stops cleanly revokes and releases; only its partitions move."""

    async def scenario() -> None:
        async with Group(redis_url, prefix) as group:
            for name in ("a", "b", "c"):
                await group.join(name)
            await until(group.settled, 10, "three members to share 8 partitions")
            before = group.owners()
            leaving = group.members.pop("b")
            await leaving.stop()
            await until(group.settled, 10, "a and c to share 8 partitions")
            after = group.owners()
            assert {p for p in before if before[p] != after[p]} == {p for p, o in before.items() if o == "b"}
            for p in (p for p, o in before.items() if o == "b"):
                assert group.last("revoked", "b", p) < group.last("assigned", after[p], p)
            assert group.overlaps == []

    run(scenario(), timeout=30)


def test_a_crashed_members_partitions_are_taken_over_after_its_lease(redis_url: str, prefix: str) -> None:
    """A member stops beating without releasing: once its leases expire the other takes them, with larger tokens."""

    async def scenario() -> None:
        async with Group(redis_url, prefix) as group:
            await group.join("a")
            await group.join("b")
            await until(group.settled, 10, "two members to share 8 partitions")
            crashed, crashed_at = await group.crash("a"), len(group.events)
            old_tokens = {p: crashed.token(p) for p in crashed.owned}
            await until(lambda: len(group.members["b"].owned) == PARTITIONS, 10, "b to own all 8")
            survivor = group.members["b"]
            assert all(survivor.token(p) > token for p, token in old_tokens.items())
            assert not any(name == "a" for _, name, _ in group.events[crashed_at:])  # dead: no callbacks
            assert group.overlaps == []

    run(scenario(), timeout=30)


def test_a_paused_owner_is_fenced_and_revokes_when_it_resumes(redis_url: str, prefix: str) -> None:
    """An owner paused past its lease is replaced; its acks are refused and it revokes when it resumes."""

    async def scenario() -> None:
        async with Group(redis_url, prefix) as group:
            paused = await group.join("a")
            assert paused.owned == set(range(PARTITIONS))
            stale = {p: paused.token(p) for p in paused.owned}
            await paused.abandon()  # no heartbeats from here: a GC pause, a SIGSTOP
            await group.join("b")
            await until(lambda: len(group.members["b"].owned) == PARTITIONS, 10, "b to own all 8")
            with pytest.raises(LeaseLostError, match="does not hold partition 0"):
                await paused.ack(0, ["0-1"])  # its own clock already says the lease ran out
            assert await paused.leases.fenced_ack(0, stale[0], ["0-1"]) is None  # and Redis refuses
            taken = {p: group.members["b"].token(p) for p in range(PARTITIONS)}
            assert all(taken[p] > stale[p] for p in range(PARTITIONS))
            await paused.tick()  # it resumes: the renewal is refused, everything is revoked
            revoked = set().union(*(ps for what, name, ps in group.events if (what, name) == ("revoked", "a")))
            assert revoked == set(range(PARTITIONS))
            await paused.stop()

    run(scenario(), timeout=30)


def test_an_ack_refused_by_redis_revokes_the_partition_at_once(redis_url: str, prefix: str, raw_redis: redis.Redis) -> None:
    """A lease gone from Redis while the owner's clock still trusts it: the fenced ack is refused, and on_revoked runs."""

    async def scenario() -> None:
        async with Group(redis_url, prefix) as group:
            owner = await group.join("a")
            raw_redis.xgroup_create(f"{prefix}:{{{TOPIC}}}:0", GROUP, id="$", mkstream=True)
            assert await owner.ack(0, ["0-1"]) == 0
            raw_redis.delete(f"{prefix}:{{{TOPIC}}}:@lease:{GROUP}:0")  # lost to a failover, say
            with pytest.raises(LeaseLostError, match="token 1 is stale"):
                await owner.ack(0, ["0-1"])
            assert not owner.holds(0)
            await until(lambda: ("revoked", "a", frozenset({0})) in group.events, 5, "partition 0 revoked")

    run(scenario(), timeout=30)


def test_a_slow_revocation_keeps_its_leases_until_it_returns(redis_url: str, prefix: str) -> None:
    """on_revoked that outlasts the lease: the leases stay renewed, so the new owner waits for it."""

    async def scenario() -> None:
        group = Group(redis_url, prefix)
        connection = await _connection(redis_url, prefix, "slow")
        leases = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "slow", lease_ms=LEASE_MS)

        async def on_revoked(partitions: frozenset[int]) -> None:
            group.events.append(("revoking", "slow", partitions))
            await asyncio.sleep(2.5 * LEASE_MS / 1000)
            group.events.append(("revoked", "slow", partitions))

        slow = Coordinator(leases, on_revoked=on_revoked, heartbeat=HEARTBEAT)
        try:
            await slow.start()
            await group.join("b")
            await until(lambda: len(group.members["b"].owned) == 4, 15, "b's half")
            for p in group.members["b"].owned:
                assert group.last("revoked", "slow", p) < group.last("assigned", "b", p)
        finally:
            await slow.stop()
            await group.close()
            await connection.close()

    run(scenario(), timeout=40)


class Proxy:
    """A TCP hop to Redis that can be cut, as a network split would: then every link closes."""

    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.links: set[asyncio.StreamWriter] = set()
        self.cut = False
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        """Listen; the URL to reach Redis through the proxy."""
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        self.links |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                target.write(data)
                await target.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            target.close()

    def sever(self) -> None:
        self.cut = True
        for writer in self.links:
            writer.close()

    async def close(self) -> None:
        self.sever()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def test_a_member_cut_off_from_redis_stops_holding_before_the_others_take_over(redis_url: str, prefix: str) -> None:
    """A network split: the cut-off member's own clock ends its leases before they expire in Redis, and it revokes them."""

    async def scenario() -> None:
        group, proxy = Group(redis_url, prefix), Proxy(redis_url)
        try:
            cut_off = await group.join("a", url=await proxy.start())
            await group.join("b")
            await until(group.settled, 10, "two members to share 8 partitions")
            lost = set(cut_off.owned)
            proxy.sever()
            await until(lambda: len(group.members["b"].owned) == PARTITIONS, 15, "b to own all 8")
            revoked = lambda: {p for what, name, ps in group.events if (what, name) == ("revoked", "a") for p in ps}  # noqa: E731
            await until(lambda: revoked() >= lost, 5, "a to revoke what it held")
            assert group.overlaps == []  # b took each only once a's own clock had let it go
            group.members.pop("a")
            await cut_off.abandon()
        finally:
            await group.close()
            await proxy.close()

    run(scenario(), timeout=40)


def test_a_failing_revocation_does_not_block_the_hand_over(redis_url: str, prefix: str) -> None:
    """on_revoked that raises is logged; the partitions are released and taken over all the same."""

    async def scenario() -> None:
        connection = await _connection(redis_url, prefix, "faulty")
        leases = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "faulty", lease_ms=LEASE_MS)

        def on_revoked(partitions: frozenset[int]) -> None:
            raise RuntimeError("state store down")

        faulty = Coordinator(leases, on_revoked=on_revoked, heartbeat=HEARTBEAT)
        group = Group(redis_url, prefix)
        try:
            await faulty.start()
            taker = await group.join("b")
            await until(lambda: len(taker.owned) == 4 and len(faulty.owned) == 4, 10, "a 4/4 split")
            assert faulty.owned.isdisjoint(taker.owned)
        finally:
            await faulty.stop()
            await group.close()
            await connection.close()

    run(scenario(), timeout=30)


def test_settings_that_cannot_work_are_refused(redis_url: str, prefix: str) -> None:
    """A heartbeat over a third of the lease, no partitions or a bad topic: ValueError naming the value."""
    connection = Connection(RedisSettings(url=redis_url, stream_prefix=prefix), "node", _refuse)
    leases = PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "a", lease_ms=1000)
    with pytest.raises(ValueError, match=r"at most a third of the lease \(1 s\), got 0.4"):
        Coordinator(leases, heartbeat=0.4)
    with pytest.raises(ValueError, match="partitions of 'market.tick' must be 1 or more, got 0"):
        PartitionLeases(connection, TOPIC, GROUP, 0, "a")
    with pytest.raises(InvalidTopicError):
        PartitionLeases(connection, "market.*", GROUP, PARTITIONS, "a")


def test_a_member_with_other_settings_is_refused(redis_url: str, prefix: str) -> None:
    """Another partition count or lease than the live members': refused at start; once they are gone, accepted."""

    async def scenario() -> None:
        connection = await _connection(redis_url, prefix, "node")
        try:
            first = Coordinator(PartitionLeases(connection, TOPIC, GROUP, PARTITIONS, "a", lease_ms=LEASE_MS), heartbeat=HEARTBEAT)
            await first.start()
            for partitions, lease_ms in ((16, LEASE_MS), (PARTITIONS, 2 * LEASE_MS)):
                other = Coordinator(PartitionLeases(connection, TOPIC, GROUP, partitions, "b", lease_ms=lease_ms), heartbeat=HEARTBEAT)
                with pytest.raises(PartitionSettingsError, match=f"its live members use 8 partitions and a {LEASE_MS} ms lease"):
                    await other.start()
            assert first.owned == set(range(PARTITIONS))  # nothing moved
            await first.stop()
            changed = Coordinator(PartitionLeases(connection, TOPIC, GROUP, 16, "b", lease_ms=LEASE_MS), heartbeat=HEARTBEAT)
            await changed.start()
            assert changed.owned == set(range(16))
            await changed.stop()
        finally:
            await connection.close()

    run(scenario())


def _spawn(redis_url: str, prefix: str, name: str) -> subprocess.Popen[str]:
    args = (redis_url, prefix, TOPIC, GROUP, str(PARTITIONS), name, str(LEASE_MS), str(HEARTBEAT))
    return spawn_ready(SCRIPT, *args, what=f"member {name}")


def test_a_paused_process_is_fenced_after_it_resumes(redis_url: str, prefix: str, raw_redis: redis.Redis) -> None:
    """SIGSTOP an owner between its lease check and its ack, past its lease; after SIGCONT its acks are refused.

    The process reads one entry per partition, checks its leases, and waits for the word to
    ack: it is stopped right there. Another member takes every partition meanwhile. Resumed,
    the process sends its acks with the tokens it had: Redis refuses all of them, the entries
    stay pending, it revokes everything, and it then rejoins for half, with newer tokens.
    """
    streams = [f"{prefix}:{{{TOPIC}}}:{p}" for p in range(PARTITIONS)]
    for stream in streams:
        raw_redis.xgroup_create(stream, GROUP, id="$", mkstream=True)
        raw_redis.xadd(stream, {"e": "entry"})
    log_key = f"{prefix}:log"

    def records() -> list[list[str]]:
        return [item.decode().split() for item in raw_redis.lrange(log_key, 0, -1)]

    process = _spawn(redis_url, prefix, "proc")

    async def scenario() -> None:
        async with Group(redis_url, prefix) as group:
            await until(lambda: ["holding"] in records(), 10, "the process to hold all 8 and wait")
            stale = _tokens(records())
            process.send_signal(signal.SIGSTOP)
            taker = await group.join("b")
            await until(lambda: len(taker.owned) == PARTITIONS, 15, "b to own all 8")
            taken = {p: taker.token(p) for p in range(PARTITIONS)}
            process.send_signal(signal.SIGCONT)
            raw_redis.set(f"{prefix}:go", 1)
            await until(lambda: len(_acks(records())) == PARTITIONS, 10, "the process's late acks")
            assert _acks(records()) == {p: "refused" for p in range(PARTITIONS)}
            assert [raw_redis.xpending(s, GROUP)["consumers"] for s in streams] == [[{"name": b"proc", "pending": 1}]] * 8
            assert all(taken[p] > stale[p] for p in range(PARTITIONS))
            await until(lambda: _revoked(records()) == set(range(PARTITIONS)), 10, "the process to revoke all 8")
            await until(
                lambda: len(taker.owned) == 4 and {*taker.owned, *_owned_by(records())} == set(range(PARTITIONS)),
                15,
                "a 4/4 split again",
            )
            rejoined = _tokens(records())
            assert all(rejoined[p] > taken[p] for p in _owned_by(records()))

    try:
        run(scenario(), timeout=50)
    finally:
        process.send_signal(signal.SIGCONT)  # a failure mid-test must not leave it stopped
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        output = process.stdout.read()
        process.stdout.close()
        print(output)  # the process's own log, shown when the test fails


def _owned_by(records: list[list[str]]) -> set[int]:
    """The partitions the process holds by its own callbacks' account."""
    owned: set[int] = set()
    for record in records:
        if record[0] == "assigned":
            owned |= {int(p) for p in record[1].split(",")}
        elif record[0] == "revoked":
            owned -= {int(p) for p in record[1].split(",")}
    return owned


def _revoked(records: list[list[str]]) -> set[int]:
    return {int(p) for record in records if record[0] == "revoked" for p in record[1].split(",")}


def _tokens(records: list[list[str]]) -> dict[int, int]:
    """The latest token the process was given per partition."""
    return {int(r[1]): int(r[2]) for r in records if r[0] == "token"}


def _acks(records: list[list[str]]) -> dict[int, str]:
    """What became of the process's late ack per partition: 'acked' or 'refused'."""
    return {int(r[1]): r[0] for r in records if r[0] in ("acked", "refused")}
