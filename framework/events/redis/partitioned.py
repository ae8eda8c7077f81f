"""Reading keyed topics: one subscription's share of a topic's partitions, in order per partition.

Publishers put a keyed event on the stream of its key's partition and record the topic (with
its partition count) in the ``@keyed`` hash. For every keyed topic its pattern matches, a
subscription runs a ``KeyedTopicReader``: a ``Coordinator`` (member: the bus's consumer name)
owns a share of the partitions, and the reader reads only those.

Order: a partition's entries reach the subscription's worker one at a time, the next only once
the previous was handled (or dead-lettered). So at most one entry of a partition is in the
mailbox or in its handler at any moment, and priority cannot reorder a partition's events.
Partitions progress independently of each other (the worker interleaves them). The next entry
is handed over right where the previous one is settled (in the worker's own call) or read,
when it is the common kind (the checks of the plain reader's fast path): waking the
partition's task for every entry cost more than handling the entry. The task takes the rest:
the entries that need the full checks (claimed, a replay's copy, a filter, a bad signature).

Acks go through ``Coordinator.ack_many``, fenced by each lease's token: one task sends those
of every partition in one call, once a partition ran dry or gathered a few, so the hand-over
goes on while they are sent (the entries acked were handled), and one round trip serves many.
On assignment the reader creates the group on the partition's stream if needed, claims the
entries the previous owner left pending and hands them over in order, then reads new ones.
On revocation it stops reading the partition, waits (bounded) for its entry in flight, acks
what was handled, forgets the rest (they stay pending for the next owner), then calls the
subscription's hook; the coordinator releases the lease only after that.

Each entry passes the same checks as a plain one, by the ``StreamReader``'s own helpers:
signature for its stream, replay guard, filter, dead-lettering, ``max_deliveries``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from loguru import logger
from redis.exceptions import ResponseError

from framework.callbacks import call_maybe_async
from framework.events.errors import LeaseLostError
from framework.events.partitioning import Partition
from framework.events.records import PartitionStatus
from framework.events.redis.connection import CONNECTION_ERRORS, pause
from framework.events.redis.coordinator import Coordinator
from framework.events.redis.feeds import PartitionFeed
from framework.events.redis.leases import PartitionLeases
from framework.events.redis.reader import StreamReader
from framework.events.redis.scripts import replays, unpack
from framework.events.redis.signing import FIELD

log = logger.bind(component="event_bus")
READ_AHEAD = 50  # entries queued per partition at most: a partition moving away drops these
POLL_MS = 5  # between reads while some partition's queue is full and the others are quiet
ACK_EVERY = 32  # handled entries of a partition that call for an ack, as its running dry does


class KeyedTopicReader:
    """One subscription's member of the group on one keyed topic, and its partitions' reading."""

    def __init__(
        self, reader: StreamReader, topic: str, count: int, gates: dict[str, Callable[[str], bool]]
    ) -> None:
        settings, connection = reader.settings, reader._connection
        self.gates = gates  # partition stream -> may an entry of it be handled now
        self.reader, self.topic, self.count, self.group = reader, topic, count, reader.group
        self.connection, self.consumer = connection, connection.consumer
        leases = PartitionLeases(
            connection, topic, reader.group, count, connection.consumer, lease_ms=settings.lease_ms
        )
        self.coordinator = Coordinator(
            leases, on_assigned=self._assigned, on_revoked=self._revoked, heartbeat=settings.heartbeat_ms / 1000
        )
        self.feeds: dict[int, PartitionFeed] = {}
        self.closed = False
        self.task: asyncio.Task[None] | None = None
        self._read_lock = asyncio.Lock()  # held by a read; a revocation waits for it to return
        self._wake = asyncio.Event()  # a partition became readable
        self._backlog = False  # the last read brought entries: more are likely waiting
        self._loop = asyncio.get_running_loop()
        self._acks_due = asyncio.Event()  # a partition ran dry or gathered ACK_EVERY acks
        self._ack_lock = asyncio.Lock()  # one ack call at a time: a revocation waits for it
        self._ack_task: asyncio.Task[None] | None = None
        options = reader.worker.options
        # How long a revocation waits for the entry in flight: its handler's every attempt.
        self.settle_s = options.timeout * (options.max_retries + 1) + options.retry_backoff * 2**options.max_retries + 1

    async def start(self) -> None:
        """Join the group (the first heartbeat takes what is free), then read."""
        await self.coordinator.start()
        name = f"{self.group}:{self.topic}"
        self.task = self._loop.create_task(self._read_loop(), name=f"event-bus:partitions:read:{name}")
        self._ack_task = self._loop.create_task(self._ack_loop(), name=f"event-bus:partitions:ack:{name}")

    async def stop(self) -> None:
        """Hand every partition over (revoked, acked, released), then leave the group."""
        self._end_reading()
        await self.coordinator.stop()
        if self._ack_task is not None:  # it ends at once, or once its call under way returns
            await asyncio.wait({self._ack_task}, timeout=1.0)

    async def abandon(self) -> None:
        """Stop at once, releasing and acking nothing, as a crash would (leases run out)."""
        self._end_reading()
        for feed in self.feeds.values():
            feed.stop()
        if self._ack_task is not None:
            self._ack_task.cancel()
        await self.coordinator.abandon()

    def _end_reading(self) -> None:
        self.closed = True
        self._wake.set()
        self._acks_due.set()  # the ack loop sees ``closed``; a revocation acks what is left
        if self.task is not None:
            self.task.cancel()

    # rebalancing: the coordinator calls these

    async def _assigned(self, partitions: frozenset[int]) -> None:
        await self._hook(0, partitions)  # before any entry of them is handled
        loop, keys = asyncio.get_running_loop(), self.connection.keys
        for index in sorted(partitions):
            feed = self.feeds[index] = PartitionFeed(index, keys.partition(self.topic, index))
            self.reader.routes[feed.stream] = partial(self._settled, feed)
            self.gates[feed.stream] = partial(self._admits, feed)
            feed.task = loop.create_task(self._feed(feed), name=f"event-bus:partition:{feed.stream}")

    async def _revoked(self, partitions: frozenset[int]) -> None:
        feeds = [self.feeds.pop(p) for p in sorted(partitions) if p in self.feeds]
        async with self._read_lock:  # a read under way may still bring their entries: left pending
            pass
        tasks = {task for feed in feeds if (task := feed.stop()) is not None}
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        await self._settle(feeds)
        for feed in feeds:
            self.reader.routes.pop(feed.stream, None)
            for key in [k for k in self.reader.held if k[0] == feed.stream]:
                del self.reader.held[key]
        try:  # what is not acked is left pending for the next owner
            lost, why = await self._flush(feeds), "lease lost"
        except CONNECTION_ERRORS as exc:
            lost, why = {feed.index for feed in feeds}, str(exc)
        if lost:
            where = f"partitions {sorted(lost)} of '{self.topic}'"
            log.info(f"subscriber '{self.group}' could not ack {where} on revocation: {why}")
        await self._hook(1, partitions)

    def _admits(self, feed: PartitionFeed, entry_id: str) -> bool:
        """Whether an entry of the partition, about to be handled, still may be (see ``Worker.admit``).

        Only the feed's entry in flight, and not once the feed stopped (revoked) or its lease is
        no longer trusted: the entry stays pending for the next owner.
        """
        if entry_id != feed.inflight:  # queued before a revocation, its partition since taken again
            return False
        if not feed.stopped and self.coordinator.holds(feed.index):
            return True
        feed.skip(entry_id)
        feed.wake.set()  # its task sees the lease is lost and drops what is queued
        return False

    async def _settle(self, feeds: Iterable[PartitionFeed]) -> None:
        """Wait (bounded) for the entries in flight to be handled."""
        busy = [f.settled.wait() for f in feeds if f.inflight is not None]
        if not busy:
            return
        try:
            async with asyncio.timeout(self.settle_s):
                await asyncio.gather(*busy)
        except TimeoutError:
            log.warning(
                f"subscriber '{self.group}' on '{self.topic}': a handler was still running "
                f"{self.settle_s:g} s after its partition was revoked; handing it over anyway"
            )

    async def _hook(self, which: int, partitions: frozenset[int]) -> None:
        hook = self.reader.worker.partition_hooks[which]
        if hook is None:
            return
        try:
            await call_maybe_async(hook, frozenset(Partition(self.topic, p, self.count) for p in partitions))
        except Exception as exc:  # the partitions must still be read (or handed over)
            name = ("on_partitions_assigned", "on_partitions_revoked")[which]
            log.error(f"{name} of subscriber '{self.group}' on '{self.topic}' raised {type(exc).__name__}: {exc}")

    # one partition, in order

    async def _feed(self, feed: PartitionFeed) -> None:
        backoff = 0.05
        while not feed.stopped:
            try:
                if not feed.ready:
                    await self._recover(feed)
                    feed.ready = True
                    self._wake.set()
                await self._hand_over(feed)
                backoff = 0.05
            except LeaseLostError:
                feed.queue.clear()  # the new owner reads them again; the coordinator revokes
                return
            except CONNECTION_ERRORS as exc:
                log.debug(f"partition {feed.stream} of '{self.group}': {exc}")
                backoff = await pause(backoff)
            except ResponseError as exc:  # the group or stream deleted under us: start over
                log.warning(f"partition {feed.stream} of '{self.group}': Redis refused a command: {exc}")
                feed.queue.clear()
                feed.ready = False
                backoff = await pause(backoff)
            except Exception as exc:  # never let one bad entry end the partition's reading
                log.error(f"partition {feed.stream} of '{self.group}': {type(exc).__name__}: {exc}")
                backoff = await pause(backoff)

    async def _hand_over(self, feed: PartitionFeed) -> None:
        """Do what ``_pass_next`` leaves: the entries needing the full checks, and the acks."""
        while not feed.stopped:
            feed.wake.clear()  # every change that leaves work here sets it again
            if not self.coordinator.holds(feed.index):
                raise LeaseLostError(f"{feed.stream}: lease no longer trusted")
            if feed.inflight is None and feed.queue and not self._pass_next(feed):
                await self._deliver(feed)
                continue
            if feed.inflight is None and not feed.queue:  # dry
                self._wake.set()  # the reader may be waiting for a partition with room
                if feed.acks:
                    self._acks_due.set()
            await feed.wake.wait()

    def _settled(self, feed: PartitionFeed, entry_id: str) -> None:
        """The reader's route for the partition: an entry was handled or set aside."""
        feed.settle(entry_id)
        if not self._pass_next(feed):  # dry, a slow entry next, or the lease lost: its task acts
            feed.wake.set()
            self._acks_due.set()
        elif len(feed.acks) >= ACK_EVERY:
            self._acks_due.set()

    def _pass_next(self, feed: PartitionFeed) -> bool:
        """Hand the partition's next entry to the worker now, if it is the common kind.

        Only when none of the partition is in flight, and while its lease is trusted. The
        common kind is the plain reader's fast path (``StreamReader._queue``): first delivery,
        no replay record naming another entry, signed, fresh, no filter. False otherwise:
        the partition's task then takes the entry with the full checks, or stops.
        """
        if feed.inflight is not None or not feed.queue or feed.stopped:
            return False
        if not self.coordinator.holds(feed.index):
            return False
        entry_id, fields, deliveries, owner = feed.queue[0]
        if deliveries > 1 or owner is not None:
            return False
        reader = self.reader
        envelope = reader._open_value(fields.get(FIELD), feed.stream)[0]
        feed.inflight = entry_id  # before the put: the worker's admit checks it
        feed.settled.clear()
        oldest, newest = reader._guard.bounds()
        if not reader._queue(feed.stream, entry_id, envelope, self._loop.time(), oldest, newest):
            feed.inflight = None
            feed.settled.set()
            return False
        self._taken(feed)
        return True

    def _taken(self, feed: PartitionFeed) -> None:
        feed.queue.popleft()
        if len(feed.queue) == READ_AHEAD // 2:  # room to read ahead again: wake an idle reader
            self._wake.set()

    async def _deliver(self, feed: PartitionFeed) -> None:
        """Hand the partition's next entry over with every check (dead-letter it, or skip it)."""
        if not self.coordinator.holds(feed.index):
            raise LeaseLostError(f"{feed.stream}: lease no longer trusted")
        reader, stream = self.reader, feed.stream
        entry = entry_id, fields, deliveries, owner = feed.queue[0]
        self._taken(feed)  # first: setting it aside settles it, which hands over the next
        feed.inflight = entry_id
        feed.settled.clear()
        try:
            opened = reader._open_entry(fields, stream)
            if deliveries > reader.max_deliveries:
                await reader._give_up(stream, entry_id, fields, opened[0], deliveries)
            else:
                await reader._accept(stream, entry_id, fields, opened, deliveries, owner)
        except BaseException:
            if feed.inflight == entry_id:  # neither queued nor set aside: a revocation must not wait
                feed.inflight = None
                feed.settled.set()
                if not feed.stopped:  # first again, next time
                    feed.queue.appendleft(entry)
            raise

    async def _ack_loop(self) -> None:
        """Ack what the partitions handled, all in one fenced call, whenever some are due."""
        backoff = 0.05
        while not self.closed:
            await self._acks_due.wait()
            self._acks_due.clear()
            try:
                await self._flush(list(self.feeds.values()))
                backoff = 0.05
            except CONNECTION_ERRORS as exc:
                log.debug(f"acks of '{self.group}' on '{self.topic}': {exc}")
                backoff = await pause(backoff)
                self._acks_due.set()  # handled: ack them once Redis is back
            except Exception as exc:  # a group deleted under us, say: never end the acking
                log.warning(f"subscriber '{self.group}' acking partitions of '{self.topic}': {exc}")
                backoff = await pause(backoff)

    async def _flush(self, feeds: Iterable[PartitionFeed]) -> set[int]:
        """Ack the feeds' handled entries in one call; the partitions whose acks were refused
        (their lease is lost: they stay pending for the next owner, and the feed stops)."""
        async with self._ack_lock:
            taken = {feed.index: (feed, feed.acks) for feed in feeds if feed.acks}
            for feed, _ in taken.values():
                feed.acks = []
            try:
                lost = await self.coordinator.ack_many({index: ids for index, (_, ids) in taken.items()})
            except CONNECTION_ERRORS:
                for feed, ids in taken.values():
                    feed.acks[:0] = ids
                raise
        for index in lost:
            taken[index][0].wake.set()  # its task sees the lease is lost and drops what is queued
        return lost

    async def _recover(self, feed: PartitionFeed) -> None:
        """Claim what the previous owner left pending, in stream order, with delivery counts."""
        client, start = self.connection.client, "0-0"
        try:  # an existing group keeps its position: the previous owner's, or older
            await client.xgroup_create(feed.stream, self.group, id=self.reader.start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        while True:
            start_raw, claimed, *_ = await client.xautoclaim(
                feed.stream, self.group, self.consumer, 0, start, count=READ_AHEAD
            )
            claimed = [(raw.decode(), fields) for raw, fields in claimed if fields]
            if claimed:
                # The counts of the whole group's pending entries in that range (the ones just
                # claimed), not only of those under our name: a stale owner's keep-alive (XCLAIM
                # JUSTID of what it still holds) can move one back to itself meanwhile, and an
                # entry left out would count as a first delivery.
                pending: Any = await client.xpending_range(
                    feed.stream, self.group, claimed[0][0], claimed[-1][0], READ_AHEAD
                )
                counts = {p["message_id"].decode(): p["times_delivered"] for p in pending}
                owners = await self._owners(feed.stream, claimed)
                feed.queue.extend((i, fields, counts.get(i, 1), owners.get(i)) for i, fields in claimed)
            start = start_raw.decode() if isinstance(start_raw, bytes) else str(start_raw)
            if start == "0-0":
                return

    # reading the partitions owned

    async def _read_loop(self) -> None:
        backoff = 0.05
        while not self.closed:
            try:
                await self._read()
                backoff = 0.05
            except CONNECTION_ERRORS as exc:
                log.debug(f"partitions of '{self.group}' on '{self.topic}': {exc}")
                backoff = await pause(backoff)
            except Exception as exc:  # a group deleted under us, say: try again
                log.warning(f"subscriber '{self.group}' reading partitions of '{self.topic}': {exc}")
                backoff = await pause(backoff)

    async def _read(self) -> None:
        holds = self.coordinator.holds  # a lease no longer trusted: read nothing more of it
        ready = [f for f in self.feeds.values() if f.ready and holds(f.index)]
        readable = {f.stream: f for f in ready if len(f.queue) < READ_AHEAD}
        # A partition with a full queue is left out of the read. While one is, a blocking read
        # (on the quiet others) would keep it from being refilled once it drains: poll instead.
        busy = len(readable) < len(ready)
        if not readable:
            await self._idle(self.reader.block_ms)
            return
        async with self._read_lock:
            if busy or self._backlog:  # entries are likely waiting: take them without blocking
                taken = await self._read_packed(readable)
            else:
                taken = await self._read_blocking(readable)
        self._backlog = taken > 0
        if busy and not taken:
            await self._idle(POLL_MS)

    async def _read_blocking(self, readable: dict[str, PartitionFeed]) -> int:
        """XREADGROUP, blocking while the partitions are quiet; how many entries came."""
        reply: Any = await self.connection.client.xreadgroup(
            self.group, self.consumer, dict.fromkeys(readable, ">"), count=READ_AHEAD, block=self.reader.block_ms
        )
        taken = 0
        for raw_stream, entries in reply or ():
            feed = readable[raw_stream.decode()]
            read = [(raw.decode(), fields) for raw, fields in entries]
            taken += len(read)
            owners = await self._owners(feed.stream, read)
            self._enqueue(feed, [(i, fields, owners.get(i)) for i, fields in read])
        return taken

    async def _read_packed(self, readable: dict[str, PartitionFeed]) -> int:
        """Read with ``READ_LUA`` (no blocking; replays recorded in the same call), as the
        stream reader does for a backlog: redis-py parses its reply far more cheaply."""
        guard, client = self.reader._guard, self.connection.client
        reply: Any = await self.connection.scripts.read(
            # A topic's partitions share its hash tag: one script may read them all on a cluster.
            keys=list(readable),
            args=[self.group, self.consumer, READ_AHEAD, guard.prefix(next(iter(readable))), guard.lifetime],
        )
        taken = 0
        for position in range(0, len(reply), 3):
            feed = readable[reply[position].decode()]
            copies = replays(reply[position + 2]) if reply[position + 2] else {}
            read: list[tuple[str, Any, str | None]] = []
            for entry_id, value in unpack(reply[position + 1]):
                if value is None:  # not a single field 'e': fetch it as it is (and record it)
                    found: Any = await client.xrange(feed.stream, entry_id, entry_id)
                    fields = found[0][1] if found else {}
                    owners = await self._owners(feed.stream, [(entry_id, fields)])
                    read.append((entry_id, fields, owners.get(entry_id)))
                else:
                    read.append((entry_id, {FIELD: value}, copies.get(entry_id)))
            taken += len(read)
            self._enqueue(feed, read)
        return taken

    def _enqueue(self, feed: PartitionFeed, read: list[tuple[str, Any, str | None]]) -> None:
        if self.feeds.get(feed.index) is not feed:  # revoked meanwhile: left pending
            return
        feed.queue.extend((entry_id, fields, 1, owner) for entry_id, fields, owner in read)
        if not self._pass_next(feed):  # the partition's task takes it (or it is busy)
            feed.wake.set()

    async def _idle(self, ms: int) -> None:
        """Wait up to ``ms`` for a partition to become readable (ready, or its queue drained)."""
        self._wake.clear()
        try:
            async with asyncio.timeout(ms / 1000):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _owners(self, stream: str, entries: list[tuple[str, Any]]) -> dict[str, str]:
        """Record the entries' events with the replay guard (one call for a batch): entry -> the
        entry its record names, for those another entry carried first."""
        copies = await self.reader._guard.record([(stream, i, fields) for i, fields in entries])
        return {entry_id: owner for (_, entry_id), owner in copies.items()}

    # visibility

    async def status(self) -> PartitionStatus:
        """What this member owns of the topic now, and each owned partition's lag."""
        stats = self.coordinator.statistics()
        lag: dict[int, int] = {}
        for index in stats.owned:
            lag[index] = await self._lag(self.connection.keys.partition(self.topic, index))
        return PartitionStatus(self.group, self.topic, stats.member, stats.owned, lag, stats.rebalances)

    async def _lag(self, stream: str) -> int:
        try:
            groups: Any = await self.connection.client.xinfo_groups(stream)
        except ResponseError:  # no such key: just assigned, its reading not set up yet
            return 0
        for group in groups:
            if group["name"].decode() == self.group:
                return int(group.get("pending") or 0) + int(group.get("lag") or 0)
        return 0
