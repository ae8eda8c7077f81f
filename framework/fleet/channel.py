"""Signed orders and answers on the fleet's streams, as the bus signs its events.

An order (``fleet.order``) goes to every instance on one stream, which each reads with plain
XREAD from where it joined: no consumer group is left behind by an instance that died. An
answer (``fleet.answer``) goes back on another. Each entry is an envelope sealed with
HMAC-SHA256 bound to its stream. An entry that is unsigned, forged, moved from another
stream, or signed longer ago than ``MAX_AGE_S`` is not acted on: it goes to the fleet's
dead-letter stream with the reason, as the bus dead-letters such entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger

from framework.events.envelope import Envelope
from framework.events.freshness import staleness
from framework.events.signing import Signer
from framework.fleet.records import Answer, Order
from framework.fleet.store import DEAD_MAXLEN, FleetStore

ORDER, ANSWER = "fleet.order", "fleet.answer"
MAX_AGE_S = 300  # an order older than this is a replayed copy, or one that waited too long
FIELD = b"m"

log = logger.bind(component="fleet")


class Channel:
    """Sealing, sending, reading and dead-lettering of one fleet's orders and answers."""

    def __init__(self, store: FleetStore, signing_key: str, sender: str) -> None:
        self.store, self.sender = store, sender
        self._signer = Signer(signing_key)

    async def send_order(self, order: Order) -> None:
        await self._send(self.store.orders, ORDER, order.to_data(), 1_000)

    async def send_answer(self, answer: Answer) -> None:
        await self._send(self.store.answers, ANSWER, answer.to_data(), 10_000)

    async def _send(self, stream: str, kind: str, data: Mapping[str, Any], maxlen: int) -> None:
        sealed = self._signer.seal(Envelope(kind, dict(data), source=self.sender), stream)
        await self.store.add(stream, {FIELD: sealed}, maxlen)

    async def orders(self, after: str, block_ms: int) -> tuple[str, list[Order]]:
        """The orders after entry ``after`` (waiting up to ``block_ms``), and the last id read."""
        found: list[Order] = []
        for entry_id, fields in await self.store.read(self.store.orders, after, block_ms):
            after = entry_id
            data = await self._opened(self.store.orders, ORDER, entry_id, fields)
            if data is not None:
                try:
                    found.append(Order.from_data(data))
                except (KeyError, ValueError, TypeError) as exc:
                    await self._dead(self.store.orders, entry_id, "undecodable", f"not an order: {exc}", fields)
        return after, found

    async def answers(self, after: str, block_ms: int) -> tuple[str, list[Answer]]:
        found: list[Answer] = []
        for entry_id, fields in await self.store.read(self.store.answers, after, block_ms):
            after = entry_id
            data = await self._opened(self.store.answers, ANSWER, entry_id, fields)
            if data is not None:
                try:
                    found.append(Answer.from_data(data))
                except (KeyError, ValueError, TypeError) as exc:
                    await self._dead(self.store.answers, entry_id, "undecodable", f"not an answer: {exc}", fields)
        return after, found

    async def _opened(
        self, stream: str, kind: str, entry_id: str, fields: Mapping[bytes, bytes]
    ) -> Mapping[str, Any] | None:
        envelope, reason, why = self._signer.open_value(fields.get(FIELD), stream)
        if envelope is not None and envelope.type != kind:
            reason, why = None, f"a '{envelope.type}' envelope on the {kind} stream"
            envelope = None
        if envelope is not None:
            stale = staleness(envelope, MAX_AGE_S, "the fleet's order age limit")
            if stale is None and isinstance(envelope.data, Mapping):
                return envelope.data
            reason, why = stale if stale else (None, "its data is not a mapping")
        await self._dead(stream, entry_id, reason.value if reason else "undecodable", why, fields)
        return None

    async def _dead(self, stream: str, entry_id: str, reason: str, why: str, fields: Mapping[bytes, bytes]) -> None:
        log.bind(event="fleet.dead_letter", stream=stream, entry=entry_id, reason=reason).warning(
            f"fleet entry {entry_id} on {stream} ignored and dead-lettered ({reason}): {why}"
        )
        value = fields.get(FIELD, b"")
        await self.store.add(
            self.store.dead,
            {"stream": stream, "entry": entry_id, "reason": reason, "explanation": why, "value": value[:4096]},
            DEAD_MAXLEN,
        )
