"""Acknowledging handled messages, on the channel that delivered them, gathered per loop turn.

A message is acknowledged only after its handler succeeded (or it was dead-lettered). A
delivery tag means something only on the channel that delivered it: after a reconnect the
broker has put that channel's unacknowledged messages back in their queues (they come again,
flagged redelivered), and the old tags are dropped here, never sent on the new channel where
they would name other messages.

Each ack frame costs a socket write on both ends, which is most of what consuming costs, so
the acks of one moment go together: tags are numbered in delivery order per channel, and when
every message delivered up to a tag is settled, one ``multiple`` ack covers them all. Tags
handled past a message still in progress (a slow handler, a retry) are acked one by one: a
``multiple`` ack must never cover a message whose handler has not finished.
"""

from __future__ import annotations

import asyncio
from typing import Any

from loguru import logger

from framework.events.rabbitmq.connection import CONNECTION_ERRORS

log = logger.bind(component="event_bus")


class Acknowledger:
    """Per channel: the tags delivered and not yet settled, the tags handled and not yet acked."""

    def __init__(self) -> None:
        self._held: dict[Any, set[int]] = {}  # aiormq channel -> tags delivered, not acked yet
        self._acks: dict[Any, list[int]] = {}  # aiormq channel -> tags to ack with the next write
        self._ready = asyncio.Event()
        self._acking = False
        self.closing = False

    @property
    def pending(self) -> bool:
        """Some messages are handled and not acknowledged yet (queued, or being sent)."""
        return bool(self._acks) or self._acking

    def hold(self, channel: Any, tag: int | None) -> None:
        """A message was delivered on ``channel``: no ``multiple`` ack may cover it until it is acked."""
        if tag is not None:
            self._held.setdefault(channel, set()).add(tag)

    def ack(self, channel: Any, tag: int | None) -> None:
        """Acknowledge a held message with the next write (a tag of None: nothing to acknowledge)."""
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
            for channel in [c for c in self._held if c.is_closed]:  # gone with a reconnect
                del self._held[channel]

    async def _send(self, channel: Any, tags: list[int]) -> None:
        held = self._held.get(channel, set())
        held.difference_update(tags)
        if channel.is_closed:  # the broker requeued them when the channel went: they come again
            self._held.pop(channel, None)
            log.debug(f"{len(tags)} acknowledgement(s) dropped: their channel closed")
            return
        # Everything delivered below the oldest message still held is settled: one frame acks
        # the batch's tags below it; the ones above it go one by one.
        oldest = min(held) if held else None
        covered = [t for t in tags if oldest is None or t < oldest]
        single = [t for t in tags if oldest is not None and t > oldest]
        try:
            if covered:
                await channel.basic_ack(max(covered), multiple=True, wait=False)
            for tag in single:
                await channel.basic_ack(tag, wait=False)  # queued for the writer: no round trip
        except CONNECTION_ERRORS as exc:
            log.warning(f"could not acknowledge {len(tags)} message(s), they will come again: {exc}")
