"""Acknowledging handled messages, on the channel that delivered them, gathered per loop turn.

A message is acknowledged only after its handler succeeded (or it was dead-lettered). A
delivery tag means something only on the channel that delivered it: after a reconnect the
broker has put that channel's unacknowledged messages back in their queues (they come again,
flagged redelivered), and the old tags are dropped here, never sent on the new channel where
they would name other messages. The acks of one moment share one task and one socket write.
"""

from __future__ import annotations

import asyncio
from typing import Any

from loguru import logger

from framework.events.rabbitmq.connection import CONNECTION_ERRORS

log = logger.bind(component="event_bus")


class Acknowledger:
    """Delivery tags handled and not yet acknowledged, per channel, and the loop that acks."""

    def __init__(self) -> None:
        self._acks: dict[Any, list[int]] = {}  # aiormq channel -> delivery tags
        self._ready = asyncio.Event()
        self._acking = False
        self.closing = False

    @property
    def pending(self) -> bool:
        """Some messages are not acknowledged yet (queued, or being sent)."""
        return bool(self._acks) or self._acking

    def ack(self, channel: Any, tag: int | None) -> None:
        """Acknowledge a message with the next write (a tag of None: nothing to acknowledge)."""
        if tag is None:
            return
        tags = self._acks.get(channel)
        if tags is None:
            self._acks[channel] = [tag]
            self._ready.set()
        else:
            tags.append(tag)

    async def run(self) -> None:
        """Send the gathered acks until closed (the bus runs this as a task)."""
        while not self.closing:
            await self._ready.wait()
            await asyncio.sleep(0)  # let the handlers of a burst finish first: one write for all
            self._ready.clear()
            batch, self._acks = self._acks, {}
            self._acking = True
            try:
                for channel, tags in batch.items():
                    await self._send(channel, tags)
            finally:
                self._acking = False

    async def _send(self, channel: Any, tags: list[int]) -> None:
        if channel.is_closed:  # the broker requeued them when the channel went: they come again
            log.debug(f"{len(tags)} acknowledgement(s) dropped: their channel closed")
            return
        try:
            for tag in tags:
                await channel.basic_ack(tag, wait=False)  # queued for the writer: no round trip
        except CONNECTION_ERRORS as exc:
            log.warning(f"could not acknowledge {len(tags)} message(s), they will come again: {exc}")
