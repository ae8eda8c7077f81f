"""The replay guard: a signed entry is handled once, and only within the replay window.

A valid signature proves who wrote an event, not that this is the first time it arrives:
anyone who can XADD can copy a genuine entry back into its stream. Two checks stop that (the
dead-letter reason in brackets):

- freshness: an envelope signed more than ``replay_window`` seconds ago, by this host's clock,
  is [expired], and so is one signed more than ``CLOCK_SKEW_S`` ahead of it. A dead letter
  replayed on purpose is signed anew: its ``replayed_at`` counts, not the event's time.
- records: ``{prefix}:@seen:<first 32 hex digits of the signature>`` (on a cluster
  ``{prefix}:{<topic>}:@seen:<...>``, beside the stream) names the stream entry
  that carries a signed value, for the window plus twice ``CLOCK_SKEW_S``. Another entry
  with the same signed value (a copy XADDed back, in any process, before or after a restart)
  is [replayed]. The recorded entry itself may be read again, as when it is claimed after its
  consumer died: same stream entry id, so it is handled.

Memory is bounded by the window: one record per signed entry read in it. Reading a backlog
records in the same script call as the read (``READ_LUA``), a blocking read in a script
pipelined behind it (``DELIVERED_LUA``); claims and multi-field entries call ``record``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framework.events.envelope import Envelope
from framework.events.freshness import CLOCK_SKEW_S, bounds, signed_at, staleness
from framework.events.records import DeadLetterReason
from framework.events.redis.connection import Connection
from framework.events.redis.scripts import DELIVERED_LUA, replays
from framework.events.redis.signing import FIELD, fingerprint

__all__ = ["CLOCK_SKEW_S", "ReadEntry", "ReplayGuard", "signed_at"]

ReadEntry = tuple[str, str, Mapping[bytes, bytes] | None]
"""An entry as read: its stream, its entry id, its fields."""


class ReplayGuard:
    """The freshness window and the replay records of one bus, shared by its readers."""

    def __init__(self, connection: Connection, window: int) -> None:
        self._connection = connection
        self.window = window
        self.lifetime = window + 2 * CLOCK_SKEW_S  # of a record, in seconds
        self.prefix = connection.keys.seen  # stream -> the prefix of its records' keys

    def bounds(self) -> tuple[float, float]:
        """The signing times accepted now: (oldest, newest), as UNIX times."""
        return bounds(self.window)

    async def record(self, entries: Sequence[ReadEntry]) -> dict[tuple[str, str], str]:
        """Record each signed entry as the one carrying its signed value, unless another is.

        Returns the copies: (stream, entry id) -> the entry id the record names. One script
        call per prefix of record keys: one in all on a server, one per hash tag on a cluster.
        """
        calls: dict[str, tuple[list[bytes], list[tuple[str, str]]]] = {}
        for stream, entry_id, fields in entries:
            mark = fingerprint(fields.get(FIELD) if fields else None)
            if mark is not None:
                prefix = self.prefix(stream)
                keys, where = calls.setdefault(prefix, ([], []))
                keys.append(prefix.encode() + mark)
                where.append((stream, entry_id))
        copies: dict[tuple[str, str], str] = {}
        for keys, where in calls.values():
            reply = await self._connection.scripts.record(
                keys=keys, args=[self.lifetime, *(entry_id for _, entry_id in where)]
            )
            copies.update(
                {where[i - 1]: owner.decode() for i, owner in zip(reply[::2], reply[1::2], strict=True)}
            )
        return copies

    def check_delivered(self, pipe: Any, streams: list[str], group: str, consumer: str, count: int) -> None:
        """Queue ``DELIVERED_LUA`` in a pipeline, behind the read whose entries it checks.

        ``count``: how many pending entries per stream to look at (what the read may deliver,
        plus the entries held). ``streams`` must be ones a script may touch together (see
        ``Keys.together``).
        """
        args = (group, consumer, count, self.prefix(streams[0]), self.lifetime)
        pipe.eval(DELIVERED_LUA, len(streams), *streams, *args)

    async def copies_delivered(self, read: Sequence[ReadEntry], reply: Any) -> dict[tuple[str, str], str]:
        """The copies among ``read``, from the ``DELIVERED_LUA`` reply behind it.

        A stream whose entries the script did not all look at (more were pending than it
        looked at, say) has its entries recorded now.
        """
        copies: dict[tuple[str, str], str] = {}
        looked: dict[str, str] = {}
        for position in range(0, len(reply), 3):
            stream = reply[position].decode()
            looked[stream] = reply[position + 1].decode()
            for entry_id, owner in replays(reply[position + 2]).items():
                copies[(stream, entry_id)] = owner
        last = {stream: entry_id for stream, entry_id, _ in read}  # a read is in id order
        missed = {s for s, entry_id in last.items() if not _covers(looked.get(s, ""), entry_id)}
        if missed:
            copies.update(await self.record([entry for entry in read if entry[0] in missed]))
        return copies

    def doubt(
        self, envelope: Envelope, entry_id: str, owner: str | None
    ) -> tuple[DeadLetterReason, str] | None:
        """Why an envelope read as ``entry_id`` must not be handled; None when it may be.

        ``owner``: the entry the replay record names, when it is not ``entry_id``.
        """
        stale = staleness(envelope, self.window, "event_bus.redis.replay_window")
        if stale is not None:
            return stale
        if owner is not None and owner != entry_id:
            return DeadLetterReason.REPLAYED, (
                f"a copy of entry {owner}, which carries the same signed event (id "
                f"{envelope.id}): XADDed again, never handled twice"
            )
        return None


def _covers(looked: str, entry_id: str) -> bool:
    """Whether the last entry id a script looked at is at or past ``entry_id``."""
    if not looked:
        return False
    ms, _, seq = looked.partition("-")
    entry_ms, _, entry_seq = entry_id.partition("-")
    return (int(ms), int(seq)) >= (int(entry_ms), int(entry_seq))
