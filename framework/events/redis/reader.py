"""One subscription's stream reader: reads its streams into its worker's mailbox.

A reader is the subscriber's consumer group on every stream its pattern matches. It blocks in
XREADGROUP while the streams are quiet and, after a read that filled a batch (a backlog), reads
with ``READ_LUA`` without blocking. On a Redis Cluster one command reads one hash slot, so a
subscription whose topics live in several slots keeps a read in flight per slot. Every entry
read passes the replay guard (``replays``) before its handler sees it. Between reads it looks
for new matching topics, keeps the entries it holds from being claimed by others, and claims
what dead consumers left pending, dead-lettering entries delivered too often. An entry is
acknowledged once its handler took it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from loguru import logger
from redis.exceptions import ResponseError

from framework.events.delivery import Worker
from framework.events.envelope import Envelope
from framework.events.errors import InvalidTopicError
from framework.events.records import DeadLetterReason
from framework.events.redis.acks import Acknowledger
from framework.events.redis.connection import CONNECTION_ERRORS, Connection, pause
from framework.events.redis.deadletters import DeadLetterStream
from framework.events.redis.replays import ReadEntry, ReplayGuard
from framework.events.redis.scripts import replays, unpack
from framework.events.redis.signing import FIELD, Opened, Signer
from framework.events.settings import RedisSettings
from framework.events.topics import is_pattern, matches, validate_topic

log = logger.bind(component="event_bus")


class StreamReader:
    """Feeds one subscription's worker from its streams: read, claim, keep alive, discover."""

    def __init__(
        self,
        worker: Worker,
        settings: RedisSettings,
        connection: Connection,
        signer: Signer,
        acks: Acknowledger,
        dead_letters: DeadLetterStream,
        guard: ReplayGuard,
    ) -> None:
        self.worker, self.group, self.settings = worker, worker.name, settings
        self._connection, self._dead_letters, self._guard = connection, dead_letters, guard
        self._open_value, self._open_entry, self._ack = signer.open_value, signer.open_entry, acks.ack
        self.claim_idle_ms, self.max_deliveries = settings.claim_idle_ms, settings.max_deliveries
        self.block_ms, self.refresh_s = settings.block_ms, settings.refresh_ms / 1000
        self.claim_every = settings.claim_idle_ms / 2000  # seconds
        self.keep_alive_every = settings.claim_idle_ms / 3000
        self.streams: dict[str, str] = {}  # stream -> topic
        self.held: dict[tuple[str, str], float] = {}  # entries read, not yet acknowledged
        # Partition stream -> what to call with an entry handled or set aside: a partition's
        # entries are acked fenced by its lease, not here (see ``partitioned``).
        self.routes: dict[str, Callable[[str], None]] = {}
        # Read ahead at most one batch: a consumer hoarding entries starves its group's others.
        self.batch = max(1, min(worker.options.queue_size, 100))
        # The groups of streams (by their first) whose last read filled a batch: more entries
        # are likely waiting.
        self.backlog: set[str] = set()
        self._reads: dict[str, asyncio.Task[None]] = {}  # on a cluster: a read in flight per slot
        self.plain = worker.filter is None
        self.start_id = "$"
        self.task: asyncio.Task[None] | None = None
        self.closed = False
        self._next = {"refresh": 0.0, "claim": 0.0, "keep_alive": 0.0}

    def start(self) -> None:
        """Start reading (in a task of its own)."""
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"event-bus:read:{self.group}:{self.worker.pattern}"
        )

    async def prepare(self) -> None:
        """Create the group on every matching stream, starting now (server time)."""
        seconds, micros = await self._connection.client.time()
        now_ms = seconds * 1000 + micros // 1000
        # Deliver entries from this millisecond on; an existing group keeps its position.
        self.start_id = f"{now_ms - 1}-18446744073709551615"
        await self._refresh()
        self._next["refresh"] = asyncio.get_running_loop().time() + self.refresh_s

    def delivered(self, envelope: Envelope) -> None:
        """Worker hook: the handler took the event, acknowledge its entry."""
        receipt = envelope._receipt  # set by this reader: (stream, entry id)
        if self.routes:
            self.release(*receipt)
            return
        self.held.pop(receipt, None)
        self._ack(receipt[0], self.group, receipt[1])

    def release(self, stream: str, entry_id: str) -> None:
        """Acknowledge an entry (handled or dead-lettered), or hand it to its partition's route."""
        self.held.pop((stream, entry_id), None)
        route = self.routes.get(stream)
        if route is not None:
            route(entry_id)
            return
        self._ack(stream, self.group, entry_id)

    # the loop

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            self._stop_reads()

    async def _loop(self) -> None:
        backoff, failing = 0.05, False
        while not self.closed:
            try:
                await self._maintain()
                await self._read()
                if failing:
                    log.info(f"subscriber '{self.group}' reconnected to Redis")
                backoff, failing = 0.05, False
            except CONNECTION_ERRORS as exc:  # first: a cluster's CLUSTERDOWN is a ResponseError too
                if not failing:
                    log.warning(
                        f"subscriber '{self.group}' lost Redis at {self.settings.address}"
                        f" ({exc}); reconnecting with backoff"
                    )
                failing = True
                backoff = await pause(backoff)
            except ResponseError as exc:
                if "NOGROUP" in str(exc) or "UNBLOCKED" in str(exc):
                    # The stream or group is gone (Redis restarted empty, or a DEL): recreate.
                    self.streams.clear()
                    self._connection.registered.clear()  # and let publishers re-register topics
                    continue
                log.warning(f"subscriber '{self.group}': Redis refused a command: {exc}")
                backoff = await pause(backoff)
            except Exception as exc:  # never let one bad entry end the subscription
                log.error(f"subscriber '{self.group}': {type(exc).__name__}: {exc}")
                backoff = await pause(backoff)

    async def _maintain(self) -> None:
        now = asyncio.get_running_loop().time()
        due = now >= self._next["refresh"] and is_pattern(self.worker.pattern)
        if due or not self.streams:
            await self._refresh()
            self._next["refresh"] = now + self.refresh_s
        if now >= self._next["keep_alive"]:
            await self._keep_alive(now)
            self._next["keep_alive"] = now + self.keep_alive_every
        if now >= self._next["claim"]:
            await self._claim()
            self._next["claim"] = now + self.claim_every

    # reading

    async def _read(self) -> None:
        if not self.streams:  # nothing matches yet
            await asyncio.sleep(self.refresh_s)
            return
        if self.worker.mailbox.size > self.batch // 2:  # the worker is behind
            await self._wait_for_worker()
            return
        groups = self._connection.keys.together(self.streams)
        if len(groups) == 1 and not self._reads:  # always so on one server
            await self._read_group(groups[0])
        else:
            await self._read_spread(groups)

    async def _read_group(self, streams: list[str]) -> None:
        """One read of streams one command may touch together (see ``Keys.together``)."""
        first = streams[0]  # names the group: a group's first stream stays first
        if first in self.backlog:  # entries are waiting: take them without blocking, cheap to parse
            taken = await self._read_packed(streams)
            if taken >= self.batch:
                return
            self.backlog.discard(first)
            if taken:
                return
        taken = await self._read_blocking(streams)
        if taken >= self.batch:
            self.backlog.add(first)
        if taken:  # let the worker run the handlers before the next read is sent
            await asyncio.sleep(0)

    async def _read_spread(self, groups: list[list[str]]) -> None:
        """Streams in several hash slots of a cluster: keep a read in flight per slot, each
        blocking on its own node, and wait for the first to end (or ``block_ms``, so that
        maintenance still runs). A read still in flight carries on into the next call."""
        loop = asyncio.get_running_loop()
        for streams in groups:
            if streams[0] not in self._reads:
                self._reads[streams[0]] = loop.create_task(self._read_group(streams))
        done, _ = await asyncio.wait(
            self._reads.values(), timeout=self.block_ms / 1000, return_when=asyncio.FIRST_COMPLETED
        )
        for first, task in list(self._reads.items()):
            if task in done:
                del self._reads[first]
        errors = [error for task in done if (error := task.exception()) is not None]
        if errors:
            raise errors[0]

    def _stop_reads(self) -> None:
        """Cancel the reads in flight (the reader is ending)."""
        for task in self._reads.values():
            task.cancel()
            task.add_done_callback(_retrieve)
        self._reads.clear()

    async def _wait_for_worker(self) -> None:
        """Wait for room in the mailbox, but not so long that maintenance falls behind."""
        try:
            async with asyncio.timeout(min(self.keep_alive_every, self.refresh_s)):
                await self.worker.mailbox.wait_space(below=self.batch // 2)
        except TimeoutError:
            pass

    async def _read_blocking(self, streams: list[str]) -> int:
        """Read with XREADGROUP, blocking while the streams are quiet; return how many came.

        The replay records of what it delivers are checked by a script pipelined behind it.
        """
        connection, guard = self._connection, self._guard
        async with connection.client.pipeline(transaction=False) as pipe:
            pipe.xreadgroup(
                self.group,
                connection.consumer,
                dict.fromkeys(streams, ">"),
                count=self.batch,
                block=self.block_ms,
            )
            pending = self.batch + len(self.held) + 10
            guard.check_delivered(pipe, streams, self.group, connection.consumer, pending)
            response, delivered = await pipe.execute()
        read: list[ReadEntry] = [
            (stream.decode(), raw_id.decode(), fields)
            for stream, entries in response or ()
            for raw_id, fields in entries
        ]
        if not read:
            return 0
        copies = await guard.copies_delivered(read, delivered)
        now, (oldest, newest) = asyncio.get_running_loop().time(), guard.bounds()
        for name, entry_id, fields in read:
            opened = self._open_value(fields.get(FIELD) if fields else None, name)
            owner = copies.get((name, entry_id)) if copies else None
            if owner is None and self._queue(name, entry_id, opened[0], now, oldest, newest):
                continue
            await self._accept(name, entry_id, fields, opened, 1, owner)
        return len(read)

    async def _read_packed(self, streams: list[str]) -> int:
        """Read with ``READ_LUA`` (no blocking); return how many entries came."""
        connection, guard = self._connection, self._guard
        reply: Any = await connection.scripts.read(
            keys=streams,
            args=[self.group, connection.consumer, self.batch, guard.prefix(streams[0]), guard.lifetime],
        )
        now, (oldest, newest) = asyncio.get_running_loop().time(), guard.bounds()
        taken = 0
        for position in range(0, len(reply), 3):
            name = reply[position].decode()
            copies = replays(reply[position + 2]) if reply[position + 2] else None
            for entry_id, value in unpack(reply[position + 1]):
                taken += 1
                if value is None:  # not a single field 'e' (a foreign producer's, say)
                    await self._fetch(name, entry_id)
                    continue
                opened = self._open_value(value, name)
                owner = copies.get(entry_id) if copies else None
                if owner is None and self._queue(name, entry_id, opened[0], now, oldest, newest):
                    continue
                await self._accept(name, entry_id, {FIELD: value}, opened, 1, owner)
        return taken

    async def _fetch(self, stream: str, entry_id: str) -> None:
        """Read an entry ``READ_LUA`` could not pack, as it is, and take it."""
        found: Any = await self._connection.client.xrange(stream, entry_id, entry_id)
        fields = found[0][1] if found else {}
        copies = await self._guard.record([(stream, entry_id, fields)])
        opened = self._open_entry(fields, stream)
        await self._accept(stream, entry_id, fields, opened, 1, copies.get((stream, entry_id)))

    def _queue(
        self,
        stream: str,
        entry_id: str,
        envelope: Envelope | None,
        now: float,
        oldest: float,
        newest: float,
    ) -> bool:
        """Queue the common entry (signed, fresh, no filter, no replay); False for the others."""
        if (
            envelope is None
            or not self.plain
            or not oldest <= envelope.time <= newest
            or "replay_for" in envelope.metadata
        ):
            return False
        receipt = envelope._receipt = (stream, entry_id)
        self.held[receipt] = now
        self.worker.mailbox.put(envelope)
        return True

    async def _accept(
        self,
        stream: str,
        entry_id: str,
        fields: Mapping[bytes, bytes] | None,
        opened: Opened,
        attempts: int,
        owner: str | None = None,
    ) -> None:
        """Queue an entry the fast path left, or dead-letter or skip it, saying why.

        ``owner``: the entry the replay record names, when it is not this one.
        """
        worker = self.worker
        envelope, reason, error = opened
        if envelope is None:
            await self._set_aside(stream, entry_id, fields, None, reason, error)
            return
        replay_for = envelope.metadata.get("replay_for")
        if replay_for is not None and replay_for != self.group:
            self.release(stream, entry_id)  # a replay meant for another subscriber
            return
        doubt = self._guard.doubt(envelope, entry_id, owner)
        if doubt is not None:
            await self._set_aside(stream, entry_id, fields, envelope, *doubt)
            return
        if worker.filter is not None and not await self._wanted(worker.filter, envelope, stream):
            self.release(stream, entry_id)
            return
        if attempts > 1:
            envelope.metadata = MappingProxyType({**envelope.metadata, "attempts": attempts})
        envelope.receipt = (stream, entry_id)
        self.held[(stream, entry_id)] = asyncio.get_running_loop().time()
        worker.mailbox.put(envelope)

    async def _set_aside(
        self,
        stream: str,
        entry_id: str,
        fields: Mapping[bytes, bytes] | None,
        envelope: Envelope | None,
        reason: DeadLetterReason | None,
        error: str,
    ) -> None:
        """Dead-letter an entry that is not to be handled, and acknowledge it.

        Only an expired event is kept as an event (replayable by id); a copy is kept as fields.
        """
        kept = envelope if reason is DeadLetterReason.EXPIRED else None
        await self._dead_letters.store(
            self.group,
            reason or DeadLetterReason.UNDECODABLE,
            error,
            stream,
            entry_id,
            kept,
            raw=None if kept else (fields or {}),
        )
        self.release(stream, entry_id)

    async def _wanted(self, predicate: Any, envelope: Envelope, stream: str) -> bool:
        try:
            return bool(predicate(envelope))
        except Exception as exc:
            text = f"filter of subscriber '{self.group}' raised {type(exc).__name__}: {exc}"
            await self._dead_letters.store(
                self.group,
                DeadLetterReason.FILTER_FAILED,
                text,
                stream,
                "",
                envelope,
            )
            return False

    # maintenance

    async def _refresh(self) -> None:
        connection, pattern = self._connection, self.worker.pattern
        client = connection.client
        if is_pattern(pattern):
            members: Any = await client.smembers(connection.keys.registry)
            topics = {m.decode() for m in members if _is_topic(m)}
            wanted = {t for t in topics if matches(pattern, t)}
        else:
            wanted = {pattern}
        for topic in sorted(wanted - set(self.streams.values())):
            stream = connection.keys.stream(topic)
            try:
                await client.xgroup_create(stream, self.group, id=self.start_id, mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):  # the group exists: it keeps its position
                    raise
            self.streams[stream] = topic
        if not is_pattern(pattern) and pattern not in connection.registered:
            await client.sadd(connection.keys.registry, pattern)  # pattern subscribers may want it
            connection.registered.add(pattern)

    async def _keep_alive(self, now: float) -> None:
        # Reset the idle time of entries held here, so no other consumer claims them from a
        # live (if slow) one. JUSTID leaves the delivery count alone.
        stale: dict[str, list[str]] = {}
        for (stream, entry_id), since in self.held.items():
            if now - since >= self.keep_alive_every:
                stale.setdefault(stream, []).append(entry_id)
        connection = self._connection
        for stream, ids in stale.items():
            await connection.client.xclaim(stream, self.group, connection.consumer, 0, ids, justid=True)  # type: ignore[arg-type]
            for entry_id in ids:
                if (stream, entry_id) in self.held:
                    self.held[(stream, entry_id)] = now

    async def _claim(self) -> None:
        mailbox, connection = self.worker.mailbox, self._connection
        for stream in list(self.streams):
            free = self.batch - mailbox.size
            if free <= 0:
                return
            _, claimed, *_ = await connection.client.xautoclaim(
                stream, self.group, connection.consumer, self.claim_idle_ms, "0-0", count=free
            )
            claimed = [(entry_id, fields) for entry_id, fields in claimed if fields]
            if claimed:
                await self._redeliver(stream, claimed)

    async def _redeliver(self, stream: str, claimed: list[tuple[bytes, Any]]) -> None:
        first, last = claimed[0][0], claimed[-1][0]
        pending: Any = await self._connection.client.xpending_range(
            stream,
            self.group,
            first,
            last,
            len(claimed) + len(self.held) + 10,
            consumername=self._connection.consumer,
        )
        deliveries = {p["message_id"]: p["times_delivered"] for p in pending}
        copies = await self._guard.record([(stream, raw_id.decode(), fields) for raw_id, fields in claimed])
        for raw_id, fields in claimed:
            entry_id, count = raw_id.decode(), deliveries.get(raw_id, 1)
            opened = self._open_entry(fields, stream)
            if count <= self.max_deliveries:
                await self._accept(stream, entry_id, fields, opened, count, copies.get((stream, entry_id)))
            else:
                await self._give_up(stream, entry_id, fields, opened[0], count)

    async def _give_up(
        self, stream: str, entry_id: str, fields: Any, envelope: Envelope | None, count: int
    ) -> None:
        """Dead-letter an entry delivered more than ``max_deliveries`` times, and ack it."""
        error = (
            f"delivered {count - 1} times without acknowledgement (consumers died or "
            f"stalled); max_deliveries={self.max_deliveries}"
        )
        await self._dead_letters.store(
            self.group,
            DeadLetterReason.MAX_DELIVERIES,
            error,
            stream,
            entry_id,
            envelope=envelope,
            raw=None if envelope else fields,
        )
        self.release(stream, entry_id)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a cancelled read's outcome as seen: the reader that wanted it has ended."""
    if not task.cancelled():
        task.exception()


def _is_topic(member: bytes) -> bool:
    try:
        validate_topic(member.decode())
    except (InvalidTopicError, UnicodeDecodeError):
        return False
    return True
