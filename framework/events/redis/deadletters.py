"""The dead-letter stream ``{prefix}:@dead``: storing an entry set aside, listing, fetching.

A dead letter records the subscriber, the reason, the error, the stream and entry it came from
and the time, with either the signed event (without this bus's delivery bookkeeping) or, for
an entry that is not an event of this bus, its fields, truncated, for diagnosis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from redis.exceptions import ResponseError

from framework.events.counters import Counters
from framework.events.envelope import Envelope
from framework.events.errors import DeadLetterNotFoundError
from framework.events.failures import FailureListener, set_aside
from framework.events.records import DeadLetter, DeadLetterReason
from framework.events.redis.connection import CONNECTION_ERRORS, Connection
from framework.events.redis.signing import FIELD, Signer

_DELIVERY_KEYS = ("attempts", "replay_for", "replayed_at")  # bookkeeping of this bus, not part of the event
_RAW_LIMIT = 1000  # characters of a foreign entry kept for diagnosis


class DeadLetterStream:
    """The dead letters of one bus, in Redis; counts each one stored in its subscriber's counters.

    ``maxlen`` (approximate) is the bus's ``dead_letter_size``.
    """

    def __init__(self, connection: Connection, signer: Signer, counters: Counters, maxlen: int) -> None:
        self._connection, self._signer, self._counters = connection, signer, counters
        self.maxlen = maxlen
        self.key = connection.keys.dead
        self.stored: FailureListener | None = None  # told of each dead letter once stored

    async def store(
        self,
        subscriber: str,
        reason: DeadLetterReason,
        error: str,
        stream: str,
        entry_id: str,
        envelope: Envelope | None = None,
        raw: Mapping[bytes, bytes] | None = None,
    ) -> None:
        """XADD a dead letter (RedisError or OSError when Redis cannot take it)."""
        fields: dict[bytes, bytes] = {
            b"subscriber": subscriber.encode(),
            b"reason": reason.value.encode(),
            b"error": error.encode(),
            b"stream": stream.encode(),
            b"entry": entry_id.encode(),
            b"time": repr(time.time()).encode(),
        }
        if envelope is not None:
            fields.update(self._signer.fields(_undelivered(envelope), self.key))
        if raw is not None:
            fields[b"raw"] = _describe_raw(raw).encode()
        await self._connection.client.xadd(
            self.key,
            fields,  # type: ignore[arg-type]
            maxlen=self.maxlen,
            approximate=True,
        )
        self._counters.of(subscriber).dead_lettered += 1
        if self.stored is not None:
            self.stored(set_aside(subscriber, reason.value, error, envelope))

    async def letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The stored dead letters, oldest first (at most ``limit``, the newest ones)."""
        client = self._connection.client
        entries: Any
        try:
            if limit is None:
                entries = await client.xrange(self.key)
            else:
                newest: Any = await client.xrevrange(self.key, count=limit)
                entries = list(reversed(newest))
        except CONNECTION_ERRORS as exc:
            raise self._connection.unreachable(exc) from exc
        return [self._letter(entry_id.decode(), fields) for entry_id, fields in entries]

    async def fetch(self, dead_letter_id: str) -> DeadLetter:
        """One dead letter; DeadLetterNotFoundError for an id that is not (or no longer) stored."""
        entries: Any
        try:
            entries = await self._connection.client.xrange(self.key, dead_letter_id, dead_letter_id)
        except CONNECTION_ERRORS as exc:  # first: a cluster's CLUSTERDOWN is a ResponseError too
            raise self._connection.unreachable(exc) from exc
        except ResponseError as exc:
            raise DeadLetterNotFoundError(f"{dead_letter_id!r} is not a dead letter id: {exc}") from exc
        if not entries:
            raise DeadLetterNotFoundError(
                f"no dead letter with id {dead_letter_id!r} in stream '{self.key}'"
            )
        return self._letter(dead_letter_id, entries[0][1])

    async def delete(self, dead_letter_id: str) -> None:
        """Forget a dead letter (once replayed)."""
        await self._connection.client.xdel(self.key, dead_letter_id)

    def _letter(self, entry_id: str, fields: Mapping[bytes, bytes]) -> DeadLetter:
        envelope = self._signer.open_entry(fields, self.key)[0] if FIELD in fields else None
        raw = fields.get(b"raw")
        try:
            reason = DeadLetterReason(fields.get(b"reason", b"").decode())
        except ValueError:
            reason = DeadLetterReason.UNDECODABLE
        return DeadLetter(
            entry_id,
            fields.get(b"subscriber", b"").decode(),
            reason,
            fields.get(b"error", b"").decode(),
            envelope,
            float(fields.get(b"time", b"0") or 0),
            {"fields": raw.decode(errors="replace")} if raw is not None else None,
        )


def _undelivered(envelope: Envelope) -> Envelope:
    """The event without this bus's delivery bookkeeping."""
    metadata = {k: v for k, v in envelope.metadata.items() if k not in _DELIVERY_KEYS}
    return envelope.replace(metadata=MappingProxyType(metadata))


def _describe_raw(fields: Mapping[bytes, bytes]) -> str:
    shown = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
    return json.dumps(shown)[:_RAW_LIMIT]
