"""Publishing by group commit: publishes that arrive while a write is in flight share the next.

Each publish call queues its signed entries with one future; one task drains the queue with
one EVALSHA of ``XADD_LUA`` per chunk of entries (the script also registers topics new to the
registry set), then settles the futures. Packing and parsing a command in redis-py costs far
more than the XADD itself, so a burst pays it once. On a Redis Cluster a script may touch one
hash slot only, so a chunk goes as one call per topic (its hash tag), sent concurrently.
"""

from __future__ import annotations

import asyncio

from framework.events.errors import StreamError
from framework.events.redis.connection import CONNECTION_ERRORS, Connection, tag

SCRIPT_CHUNK = 1000  # entries per EVALSHA: bounds how long one call holds Redis


class _Pending:
    """One publish call waiting for its flush: (topic, stream, signed value) entries, one future."""

    __slots__ = ("entries", "future")

    def __init__(self, entries: list[tuple[str, str, bytes]], future: asyncio.Future[None]) -> None:
        self.entries, self.future = entries, future


class Outbox:
    """The entries waiting to be written to their streams, and the loop that writes them."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._pending: list[_Pending] = []
        self._ready = asyncio.Event()

    @property
    def idle(self) -> bool:
        """Nothing is waiting to be written."""
        return not (self._pending or self._ready.is_set())

    async def send(self, entries: list[tuple[str, str, bytes]]) -> None:
        """Write ``(topic, stream, signed value)`` entries; return once Redis has stored them all.

        The stream is the topic's, or one of its partitions' for a keyed event; either way the
        topic goes in the registry.

        Raises BusConnectionError when Redis is out of reach, StreamError when it refuses.
        """
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        for start in range(0, len(entries), SCRIPT_CHUNK):
            futures.append(loop.create_future())
            self._pending.append(_Pending(entries[start : start + SCRIPT_CHUNK], futures[-1]))
        self._ready.set()
        if len(futures) == 1:
            await futures[0]  # the usual case: gather would cost a future and a callback more
        else:
            await asyncio.gather(*futures)  # marks every exception retrieved, not just the first

    async def run(self) -> None:
        """Write what is queued until the connection closes (the bus runs this as a task)."""
        connection = self._connection
        while not connection.closing:
            await self._ready.wait()
            batch, self._pending = self._pending, []
            if batch:
                for chunk in _chunks(batch):
                    await self._write(chunk)
            if not self._pending:
                self._ready.clear()

    async def _write(self, chunk: list[_Pending]) -> None:
        connection = self._connection
        topics = {topic for pending in chunk for topic, _, _ in pending.entries}
        new = sorted(topics - connection.registered)
        entries = [(stream, value) for pending in chunk for _, stream, value in pending.entries]
        error: Exception | None = None
        try:
            if connection.keys.cluster:
                await self._write_spread(new, entries)
            else:
                await self._xadd(new, entries)
        except CONNECTION_ERRORS as exc:
            error = connection.unreachable(exc)
        except Exception as exc:  # a refusal (wrong key type, OOM): fail these publishes only
            error = StreamError(f"Redis refused XADD to '{entries[0][0]}' (or the entries after it): {exc}")
        else:
            connection.registered.update(new)
        _settle(chunk, error)

    async def _xadd(self, new: list[str], entries: list[tuple[str, bytes]]) -> None:
        """One ``XADD_LUA`` call: registers the ``new`` topics and appends the entries."""
        connection = self._connection
        keys = [connection.keys.registry] if new else []
        values: list[bytes | str | int] = [connection.settings.maxlen, len(new), *new]
        for stream, value in entries:
            keys.append(stream)
            values.append(value)
        await connection.scripts.xadd(keys=keys, args=values)

    async def _write_spread(self, new: list[str], entries: list[tuple[str, bytes]]) -> None:
        """On a cluster: register new topics with an SADD of their own (the registry lives in
        another slot), then one script call per hash tag, all at once (each to its node)."""
        if new:
            await self._connection.client.sadd(self._connection.keys.registry, *new)
        groups: dict[str, list[tuple[str, bytes]]] = {}
        for stream, value in entries:
            groups.setdefault(tag(stream), []).append((stream, value))
        if len(groups) == 1:
            await self._xadd([], entries)
            return
        # Every call settles before an error is raised: the futures must not resolve while
        # some XADDs of the chunk are still in flight.
        results = await asyncio.gather(*(self._xadd([], g) for g in groups.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


def _chunks(batch: list[_Pending]) -> list[list[_Pending]]:
    """The batch cut into runs of whole publish calls of at most ``SCRIPT_CHUNK`` entries."""
    chunks: list[list[_Pending]] = [[]]
    size = 0
    for pending in batch:
        if size and size + len(pending.entries) > SCRIPT_CHUNK:
            chunks.append([])
            size = 0
        chunks[-1].append(pending)
        size += len(pending.entries)
    return chunks


def _settle(chunk: list[_Pending], error: Exception | None) -> None:
    for pending in chunk:
        if pending.future.done():
            continue
        if error is None:
            pending.future.set_result(None)
        else:
            pending.future.set_exception(error)
