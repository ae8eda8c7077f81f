"""Acknowledging handled entries: XACKs gathered for a moment and sent together.

An entry is acknowledged only after its handler succeeded (or it was dead-lettered). The
acknowledgements wait ``ACK_GATHER_S`` to share one XACK: a burst costs one command, and a
lone event's XACK is not sent (and its reply parsed) in the middle of the next event's
delivery. A process that dies within that moment has those entries redelivered, as
at-least-once delivery allows.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from framework.events.redis.connection import CONNECTION_ERRORS, Connection, pause

ACK_GATHER_S = 0.002
log = logger.bind(component="event_bus")


class Acknowledger:
    """The entries handled and not yet acknowledged, per (stream, group), and the loop that acks."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._acks: dict[tuple[str, str], list[str]] = {}
        self._ready = asyncio.Event()
        self._acking = False  # an XACK (or pipeline of them) is in flight

    @property
    def pending(self) -> bool:
        """Some entries are not acknowledged yet (queued, or their XACK is in flight)."""
        return bool(self._acks) or self._acking

    def ack(self, stream: str, group: str, entry_id: str) -> None:
        """Acknowledge an entry with the next XACK."""
        key = (stream, group)
        ids = self._acks.get(key)
        if ids is None:  # the first of its stream since the last flush (which emptied _acks)
            self._acks[key] = [entry_id]
            self._ready.set()
        else:
            ids.append(entry_id)

    async def run(self) -> None:
        """Send the gathered XACKs until the connection closes (the bus runs this as a task)."""
        backoff = 0.05
        while not self._connection.closing:
            await self._ready.wait()
            await asyncio.sleep(ACK_GATHER_S)
            self._ready.clear()
            batch, self._acks = self._acks, {}
            self._acking = True
            try:
                await self._send(batch)
                backoff = 0.05
            except CONNECTION_ERRORS:
                for key, ids in batch.items():  # keep them: the handlers did succeed
                    self._acks.setdefault(key, []).extend(ids)
                backoff = await pause(backoff)
                self._ready.set()
            except Exception as exc:  # a group or stream deleted under us: nothing left to ack
                log.warning(f"could not acknowledge {sum(map(len, batch.values()))} entries: {exc}")
            finally:
                self._acking = False

    async def _send(self, batch: dict[tuple[str, str], list[str]]) -> None:
        client = self._connection.client
        if len(batch) == 1:  # the usual case; a pipeline costs redis-py far more
            [((stream, group), ids)] = batch.items()
            await client.xack(stream, group, *ids)
            return
        async with client.pipeline(transaction=False) as pipe:
            for (stream, group), ids in batch.items():
                pipe.xack(stream, group, *ids)
            await pipe.execute()
