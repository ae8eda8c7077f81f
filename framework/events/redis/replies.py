"""Replies to ``request`` across processes: a stream per bus instance, read by one task.

A reply goes to the stream ``{prefix}:@reply:{node}`` of the instance that sent the request;
that stream expires when its requester dies, and the requester deletes it when it stops. The
task reading it starts with the instance's first request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger

from framework.events.envelope import Envelope
from framework.events.redis.connection import CONNECTION_ERRORS, Connection, pause
from framework.events.redis.signing import Signer

_REPLY_MAXLEN, _REPLY_TTL = 1000, 300
log = logger.bind(component="event_bus")


class ReplyChannel:
    """Sends replies to other instances and hands the ones for this instance to ``resolve``."""

    def __init__(
        self, connection: Connection, signer: Signer, resolve: Callable[[Envelope], None]
    ) -> None:
        self._connection, self._signer, self._resolve = connection, signer, resolve
        self.task: asyncio.Task[None] | None = None

    def listen(self) -> None:
        """Start reading this instance's reply stream, unless already reading it."""
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name="event-bus:replies")

    async def send(self, reply_to: str, response: Envelope) -> None:
        """XADD a reply to the stream of the instance ``reply_to``."""
        connection = self._connection
        stream = connection.keys.replies_of(reply_to)
        try:
            async with connection.client.pipeline(transaction=False) as pipe:
                pipe.xadd(stream, self._signer.fields(response, stream), maxlen=_REPLY_MAXLEN, approximate=True)  # type: ignore[arg-type]
                pipe.expire(stream, _REPLY_TTL)  # a requester that died leaves no garbage
                await pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise connection.unreachable(exc) from exc

    async def forget(self) -> None:
        """Delete this instance's reply stream, if it was read (after the task has ended)."""
        if self.task is None or not self._connection.connected:
            return
        try:
            await self._connection.client.delete(self._connection.keys.replies)
        except CONNECTION_ERRORS:
            pass

    async def _run(self) -> None:
        connection = self._connection
        last, backoff = "0-0", 0.05
        while not connection.closing:
            response: Any
            try:
                response = await connection.client.xread(
                    {connection.keys.replies: last}, count=100, block=connection.settings.block_ms
                )
                backoff = 0.05
            except CONNECTION_ERRORS:
                backoff = await pause(backoff)
                continue
            for _, entries in response or []:
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    self._take(fields)

    def _take(self, fields: Any) -> None:
        envelope, _, error = self._signer.open_entry(fields, self._connection.keys.replies)
        if envelope is None:
            log.warning(f"ignored a reply that is not a signed envelope: {error}")
        else:
            self._resolve(envelope)
