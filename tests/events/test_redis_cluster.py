"""The Redis Streams bus on a real Redis Cluster (six local processes, ``tests/cluster.py``).

The behaviour suite (``test_behaviour.py``) runs on the cluster too, SIGKILLed consumer process
included; these tests show what is particular to a cluster: topics spread over the nodes, each
topic's keys in one slot, and errors that name the cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
import redis

from framework.events.envelope import Envelope
from framework.events.errors import BusConnectionError
from framework.events.redis.bus import RedisBus
from framework.events.redis.client import redis_client
from framework.events.redis.connection import Keys, tag
from framework.events.settings import BusSettings
from tests.cluster import PORTS, LocalCluster, missing_tools
from tests.conftest import require_server
from tests.events.conftest import bus_settings, run, until

pytestmark = [pytest.mark.redis_cluster, pytest.mark.timeout(60)]
Settings = Callable[..., BusSettings]


@pytest.fixture
def raw_cluster(redis_cluster: str) -> Iterator[redis.RedisCluster]:
    """A plain synchronous cluster client, to look at what the bus wrote and where."""
    with redis.RedisCluster.from_url(redis_cluster) as client:
        yield client


def _spread_topics(raw: redis.RedisCluster, prefix: str, count: int) -> list[str]:
    """``count`` topics 'orders.<n>' whose streams live on ``count`` different master nodes."""
    chosen: dict[str, str] = {}  # node -> topic
    for n in range(1000):
        topic = f"orders.{n}"
        node = raw.get_node_from_key(f"{prefix}:{{{topic}}}").name
        chosen.setdefault(node, topic)
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError(f"no {count} topics on distinct nodes among 1000")


def test_topics_on_every_master_are_published_and_consumed_in_order(
    cluster_settings: Settings, cluster_prefix: str, raw_cluster: redis.RedisCluster
) -> None:
    """Bursts to topics on three masters reach a pattern subscriber and an exact one, each
    topic's events in publish order; each stream is named with its topic as the hash tag."""
    topics = _spread_topics(raw_cluster, cluster_prefix, 3)

    async def scenario() -> tuple[dict[str, list[int]], list[int]]:
        by_topic: dict[str, list[int]] = {t: [] for t in topics}
        exact: list[int] = []
        async with RedisBus(cluster_settings()) as bus:
            await bus.subscribe("orders.*", lambda e: by_topic[e.type].append(e.data), subscriber="audit")
            await bus.subscribe(topics[1], lambda e: exact.append(e.data), subscriber="billing")
            # 250 per topic: more than a read's batch, so backlogs are read by script, per slot.
            await bus.publish_many([(t, n) for n in range(250) for t in topics])
            await until(lambda: sum(map(len, by_topic.values())) == 750 and len(exact) == 250, 15, "every event")
            await asyncio.sleep(0.2)  # a duplicate would show up by now
        return by_topic, exact

    by_topic, exact = run(scenario(), timeout=40)
    assert all(received == list(range(250)) for received in by_topic.values()), by_topic
    assert exact == list(range(250))
    for topic in topics:
        assert raw_cluster.xlen(f"{cluster_prefix}:{{{topic}}}") == 250
    assert raw_cluster.smembers(f"{cluster_prefix}:@topics") == {t.encode() for t in topics}


def test_keyed_partitions_are_shared_by_two_buses_on_a_cluster(
    cluster_settings: Settings, cluster_prefix: str, raw_cluster: redis.RedisCluster
) -> None:
    """Two buses of one subscriber split a keyed topic's partitions (leases and fenced acks run
    as scripts in the topic's slot); every event is handled once, each key's in order."""
    def settings(member: str) -> BusSettings:
        return cluster_settings(partitions=4, redis={"lease_ms": 600, "heartbeat_ms": 150, "consumer": member})

    async def scenario() -> tuple[list[tuple[str, int]], set[int], set[int]]:
        handled: list[tuple[str, int]] = []
        first, second = RedisBus(settings("first")), RedisBus(settings("second"))
        async with first, second:
            for bus in (first, second):
                await bus.subscribe("trades.*", lambda e: handled.append((e.data["k"], e.data["n"])), subscriber="risk")
            await first.publish("trades.fx", {"k": "warm", "n": 0}, key="warm")  # records the topic as keyed

            async def owned(bus: RedisBus) -> set[int]:
                return {p for status in await bus.partitions() for p in status.owned}

            async def split() -> bool:
                mine, theirs = await owned(first), await owned(second)
                return mine.isdisjoint(theirs) and len(mine | theirs) == 4 and bool(mine) and bool(theirs)

            deadline = asyncio.get_running_loop().time() + 10
            while not await split():
                assert asyncio.get_running_loop().time() < deadline, "the partitions were never split"
                await asyncio.sleep(0.05)
            for n in range(1, 41):
                key = f"k{n % 5}"
                await (first if n % 2 else second).publish("trades.fx", {"k": key, "n": n}, key=key)
            await until(lambda: len(handled) == 41, 15, "every keyed event")
            await asyncio.sleep(0.2)
            return handled, await owned(first), await owned(second)

    handled, mine, theirs = run(scenario(), timeout=40)
    assert sorted(n for _, n in handled) == list(range(41))
    for key in {k for k, _ in handled if k != "warm"}:
        numbers = [n for k, n in handled if k == key]
        assert numbers == sorted(numbers), (key, numbers)
    assert mine | theirs == {0, 1, 2, 3}
    streams = [f"{cluster_prefix}:{{trades.fx}}:{p}" for p in range(4)]
    assert {raw_cluster.keyslot(s) for s in streams} == {raw_cluster.keyslot(f"{cluster_prefix}:{{trades.fx}}")}


def test_dead_letters_from_topics_on_several_nodes_share_one_stream(
    cluster_settings: Settings, cluster_prefix: str, raw_cluster: redis.RedisCluster
) -> None:
    """Failed events of topics on different masters are dead-lettered into the one dead-letter
    stream, listed oldest first, and a replayed one reaches its subscriber."""
    topics = _spread_topics(raw_cluster, cluster_prefix, 3)

    async def scenario() -> tuple[list[str], list[str], int]:
        healed: list[str] = []
        broken = True

        def handle(envelope: Envelope) -> None:
            if broken:
                raise RuntimeError(f"cannot handle {envelope.type}")
            healed.append(envelope.type)

        async with RedisBus(cluster_settings()) as bus:
            await bus.subscribe("orders.*", handle, subscriber="billing")
            for topic in topics:
                await bus.publish(topic, {"topic": topic})
            await until(lambda: bus.statistics().dead_lettered == 3, 10, "three dead letters")
            letters = await bus.dead_letters()
            broken = False
            await bus.replay_dead_letter(letters[0].id)
            await until(lambda: healed == [letters[0].envelope.type], 10, "the replayed event")  # type: ignore[union-attr]
            remaining = len(await bus.dead_letters())
        return [letter.envelope.type for letter in letters if letter.envelope], healed, remaining

    dead, healed, remaining = run(scenario(), timeout=40)
    assert sorted(dead) == sorted(topics)
    assert healed == dead[:1] and remaining == 2
    assert raw_cluster.xlen(f"{cluster_prefix}:@dead") == 2


def test_a_killed_master_s_replica_takes_over_and_no_event_is_lost_or_handled_twice(worker_id: str) -> None:
    """SIGKILL the master holding a topic: publishing raises BusConnectionError until its replica
    is promoted (seconds), then goes on; the subscriber reconnects and handles every event once.

    A cluster of its own (50 ports above the session's): the kill would degrade the shared one.
    """
    require_server(missing_tools(), "a local Redis Cluster (redis-server, redis-cli)")
    offset = 50 + (10 * int(worker_id[2:]) if worker_id.startswith("gw") else 0)
    cluster = LocalCluster(tuple(port + offset for port in PORTS))

    async def scenario(url: str) -> tuple[list[int], int]:
        got: list[int] = []
        with redis.RedisCluster.from_url(url) as raw:
            master = raw.get_node_from_key("failover:{jobs.run}").port
        async with RedisBus(bus_settings(url, "failover", cluster=True)) as bus:
            await bus.subscribe("jobs.run", lambda e: got.append(e.data), subscriber="workers")
            for n in range(10):
                await bus.publish("jobs.run", n)
            await until(lambda: len(got) == 10, 5, "the events before the kill")
            await asyncio.sleep(0.5)  # the acks reach the replica (replication is asynchronous)
            cluster.kill(master)
            refused, n = 0, 10
            while n < 20:
                try:
                    await bus.publish("jobs.run", n)
                    n += 1
                except BusConnectionError:
                    refused += 1
                    await asyncio.sleep(0.2)
            await until(lambda: len(got) == 20, 20, "the events after the failover")
            await asyncio.sleep(0.5)  # a duplicate would show up by now
        return got, refused

    with cluster as url:
        got, refused = run(scenario(url), timeout=50)
    assert sorted(got) == list(range(20)) and refused > 0


def test_an_unreachable_cluster_node_is_a_clear_connection_error() -> None:
    """A bus pointed at a cluster node that does not answer fails to start, naming the node and
    the setting, never the password."""
    settings = bus_settings("redis://:secret@127.0.0.1:7199/0", "nowhere", cluster=True)

    async def start() -> None:
        async with RedisBus(settings):
            pass

    with pytest.raises(BusConnectionError) as caught:
        run(start())
    message = str(caught.value)
    assert message.startswith("Redis Cluster node at 127.0.0.1:7199 unreachable: ")
    assert "(event_bus.redis.url = redis://127.0.0.1:7199/0)" in message and "secret" not in message


def test_one_function_builds_the_client_for_either_mode(redis_cluster: str) -> None:
    """``redis_client`` gives a cluster client for ``cluster=True`` (finding every master from one
    node) and a plain client otherwise."""

    async def masters() -> int:
        client = redis_client(redis_cluster, cluster=True, connect_timeout=1.0, client_name="probe")
        try:
            await client.ping()
            return len(client.get_primaries())  # type: ignore[union-attr]
        finally:
            await client.aclose()

    assert run(masters()) == 3
    plain = redis_client("redis://127.0.0.1:6379/0", cluster=False, connect_timeout=1.0, client_name="probe")
    assert type(plain).__name__ == "Redis"
    run(plain.aclose())


@pytest.mark.parametrize(
    ("key", "expected"),
    [("p:{orders}", "orders"), ("p:{orders}:3", "orders"), ("p:orders", "p:orders"), ("p:{}:x", "p:{}:x")],
)
def test_tag_is_what_redis_cluster_hashes(key: str, expected: str) -> None:
    """``tag`` takes the hash tag as Redis does: between the first '{' and the next '}', the
    whole key when there is none or it is empty."""
    assert tag(key) == expected


def test_cluster_keys_tag_every_stream_with_its_topic_and_single_node_names_stay() -> None:
    """On a cluster a topic's stream, partitions and replay records share its tag; on one
    server the names are the ones the bus always used."""
    single, cluster = Keys("ev", "node"), Keys("ev", "node", cluster=True)
    assert (single.stream("a.b"), single.seen(single.stream("a.b"))) == ("ev:a.b", "ev:@seen:")
    assert cluster.stream("a.b") == "ev:{a.b}"
    assert cluster.seen(cluster.stream("a.b")) == cluster.seen(cluster.partition("a.b", 3)) == "ev:{a.b}:@seen:"
    streams = [cluster.stream("a"), cluster.partition("b", 0), cluster.stream("b")]
    assert cluster.together(streams) == [["ev:{a}"], ["ev:{b}:0", "ev:{b}"]]
    assert single.together(streams) == [streams]
