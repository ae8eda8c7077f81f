"""The replay guard on RabbitMQ: a signed event is handled within the replay window, once per copy.

A valid signature proves who wrote an event, not that this is the first time it arrives:
anyone who may publish to the exchange can publish a genuine message again. Two checks stop
that (the dead-letter reason in brackets):

- freshness (``framework.events.freshness``): signed longer ago than ``replay_window``, or
  far in the future, is [expired], in every process;
- records: each subscription remembers, in this process, the signature of each message it
  took, for the window. A message the broker did not flag ``redelivered`` whose signature is
  remembered is a second publication of the same signed event: [replayed]. A redelivery (the broker flags it: its
  consumer died, or its channel closed, before the ack) is the same message and is handled.

RabbitMQ has nowhere to share these records (Redis keeps them in Redis), so they are per
process: a copy that reaches another process of the component than the original did is
caught by freshness only. Memory is bounded by the window: one record per message taken in it.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from framework.events.envelope import Envelope
from framework.events.freshness import CLOCK_SKEW_S, staleness
from framework.events.records import DeadLetterReason
from framework.events.signing import SIGNATURE_LENGTH

FINGERPRINT_LENGTH = 32  # hex digits of a signature that name it in the records
_KEY = "event_bus.rabbitmq.replay_window"


class ReplayGuard:
    """The freshness window and one subscription's records (in this process) of the messages it took."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.lifetime = window + 2 * CLOCK_SKEW_S  # of a record, in seconds
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # fingerprint -> expiry, oldest first

    def doubt(
        self, envelope: Envelope, body: bytes, redelivered: bool
    ) -> tuple[DeadLetterReason, str] | None:
        """Why a signed message must not be handled; None when it may be (and is now recorded)."""
        stale = staleness(envelope, self.window, _KEY)
        if stale is not None:
            return stale
        mark = body[:FINGERPRINT_LENGTH] if len(body) > SIGNATURE_LENGTH else None
        if mark is None:
            return None
        now = time.time()
        self._forget(now)
        if mark in self._seen and not redelivered:
            return DeadLetterReason.REPLAYED, (
                f"the same signed event (id {envelope.id}) was already delivered to this process: "
                "published again, never handled twice"
            )
        self._seen[mark] = now + self.lifetime
        self._seen.move_to_end(mark)
        return None

    def _forget(self, now: float) -> None:
        seen = self._seen
        while seen:
            mark, expiry = next(iter(seen.items()))
            if expiry > now:
                return
            del seen[mark]
