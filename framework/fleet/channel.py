"""Signed orders and answers on the fleet's streams, as the bus signs its events.

An order (``fleet.order``) goes to every instance on one stream, which each reads with plain
XREAD from where it joined: no consumer group is left behind by an instance that died. An
answer (``fleet.answer``) goes back on another. Each entry is an envelope sealed with
HMAC-SHA256 bound to its stream. An entry that is unsigned, forged, moved from another
stream, or signed longer ago than ``MAX_AGE_S`` is not acted on: it goes to the fleet's
dead-letter stream with the reason, as the bus dead-letters such entries.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from loguru import logger

from framework.events.envelope import Envelope
from framework.events.freshness import staleness
from framework.events.records import DeadLetterReason
from framework.events.signing import Signer
from framework.fleet.records import Answer, Order
from framework.fleet.store import DEAD_MAXLEN, FleetStore

ORDER, ANSWER = "fleet.order", "fleet.answer"
MAX_AGE_S = 300  # an order older than this is a replayed copy, or one that waited too long
SEEN_IDS = 10_000  # envelope ids remembered to refuse a copy added again within MAX_AGE_S
FIELD = b"m"
T = TypeVar("T")

log = logger.bind(component="fleet")


class Channel:
    """Sealing, sending, reading and dead-lettering of one fleet's orders and answers."""

    def __init__(self, store: FleetStore, signing_key: str, sender: str) -> None:
        self.store, self.sender = store, sender
        self._signer = Signer(signing_key)
        self._seen: OrderedDict[str, None] = OrderedDict()  # envelope ids read, newest last

    async def send_order(self, order: Order) -> None:
        await self._send(self.store.orders, ORDER, order.to_data(), 1_000)

    async def send_answer(self, answer: Answer) -> None:
        await self._send(self.store.answers, ANSWER, answer.to_data(), 10_000)

    async def _send(self, stream: str, kind: str, data: Mapping[str, Any], maxlen: int) -> None:
        sealed = self._signer.seal(Envelope(kind, dict(data), source=self.sender), stream)
        await self.store.add(stream, {FIELD: sealed}, maxlen)

    async def orders(self, after: str, block_ms: int) -> tuple[str, list[Order]]:
        """The orders after entry ``after`` (waiting up to ``block_ms``), and the last id read."""
        return await self._read(self.store.orders, ORDER, Order.from_data, after, block_ms)

    async def answers(self, after: str, block_ms: int) -> tuple[str, list[Answer]]:
        """The answers after entry ``after`` (waiting up to ``block_ms``), and the last id read."""
        return await self._read(self.store.answers, ANSWER, Answer.from_data, after, block_ms)

    async def _read(
        self, stream: str, kind: str, parse: Callable[[Mapping[str, Any]], T], after: str, block_ms: int
    ) -> tuple[str, list[T]]:
        found: list[T] = []
        for entry_id, fields in await self.store.read(stream, after, block_ms):
            after = entry_id
            data = await self._opened(stream, kind, entry_id, fields)
            if data is not None:
                try:
                    found.append(parse(data))
                except (KeyError, ValueError, TypeError) as exc:
                    await self._dead(stream, entry_id, "undecodable", f"not a {kind}: {exc}", fields)
        return after, found

    async def _opened(
        self, stream: str, kind: str, entry_id: str, fields: Mapping[bytes, bytes]
    ) -> Mapping[str, Any] | None:
        envelope, reason, why = self._signer.open_value(fields.get(FIELD), stream)
        if envelope is not None and envelope.type != kind:
            reason, why = None, f"a '{envelope.type}' envelope on the {kind} stream"
            envelope = None
        if envelope is not None and self._replayed(envelope.id):
            reason, why = DeadLetterReason.REPLAYED, f"envelope {envelope.id} was read before: a copy added again"
            envelope = None
        if envelope is not None:
            stale = staleness(envelope, MAX_AGE_S, "the fleet's order age limit")
            if stale is None and isinstance(envelope.data, Mapping):
                return envelope.data
            reason, why = stale if stale else (None, "its data is not a mapping")
        await self._dead(stream, entry_id, reason.value if reason else "undecodable", why, fields)
        return None

    def _replayed(self, envelope_id: str) -> bool:
        """Whether this envelope was read before; remembers it (the last SEEN_IDS of them).
        Older copies than that are refused by their age."""
        if envelope_id in self._seen:
            return True
        self._seen[envelope_id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        return False

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
