"""One owned partition of a keyed topic, as its reader keeps it: entries queued, the one in flight, acks.

Only state and its small transitions; the reading, the hand-over and the acking are the
``KeyedTopicReader``'s (``partitioned``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

Queued = tuple[str, Any, int, str | None]


class PartitionFeed:
    """One owned partition: the entries read and not yet handed over, the one in flight, acks."""

    def __init__(self, index: int, stream: str) -> None:
        self.index, self.stream = index, stream
        # (entry id, fields, deliveries, the entry its replay record names if not this one)
        self.queue: deque[Queued] = deque()
        self.inflight: str | None = None  # the entry handed to the worker, not yet handled
        self.settled = asyncio.Event()  # the entry in flight was handled or set aside
        self.wake = asyncio.Event()  # there is work for its task (entries, a lost lease)
        self.acks: list[str] = []  # handled, not yet acknowledged
        self.ready = False  # the previous owner's pending entries are claimed: read new ones
        # The loop ends on this flag: redis-py can swallow a cancellation in a command.
        self.stopped = False
        self.task: asyncio.Task[None] | None = None

    def stop(self) -> asyncio.Task[None] | None:
        """Stop handing entries over; forget the queued ones; the task to wait for."""
        self.stopped = True
        self.queue.clear()
        self.wake.set()
        if self.task is not None:
            self.task.cancel()
        return self.task

    def skip(self, entry_id: str) -> None:
        """The entry in flight will not be handled here (its lease is lost): ack nothing."""
        if entry_id == self.inflight:
            self.inflight = None
            self.settled.set()

    def settle(self, entry_id: str) -> None:
        """The entry was handled or set aside: ack it with the next batch."""
        self.acks.append(entry_id)
        if entry_id == self.inflight:
            self.inflight = None
            self.settled.set()
