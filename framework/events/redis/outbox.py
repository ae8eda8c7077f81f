"""Publishing by group commit: publishes that arrive while a write is in flight share the next.

Each publish call queues its signed entries with one future; one task drains the queue with
one EVALSHA of ``XADD_LUA`` per chunk of entries (the script also registers topics new to the
registry set), then settles the futures. Packing and parsing a command in redis-py costs far
more than the XADD itself, so a burst pays it once.
"""

from __future__ import annotations

import asyncio

from framework.events.errors import StreamError
from framework.events.redis.connection import CONNECTION_ERRORS, Connection

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
        keys = [connection.keys.registry]
        values: list[bytes | str | int] = [connection.settings.maxlen, len(new), *new]
        for pending in chunk:
            for _, stream, value in pending.entries:
                keys.append(stream)
                values.append(value)
        error: Exception | None = None
        try:
            await connection.scripts.xadd(keys=keys, args=values)
        except CONNECTION_ERRORS as exc:
            error = connection.unreachable(exc)
        except Exception as exc:  # a refusal (wrong key type, OOM): fail these publishes only
            error = StreamError(f"Redis refused XADD to '{keys[1]}' (or the entries after it): {exc}")
        else:
            connection.registered.update(new)
        _settle(chunk, error)


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
