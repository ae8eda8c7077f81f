"""The replay window's clock: an event is deliverable only within ``replay_window`` of its signing.

Backend-neutral half of the replay guard (each backend keeps its own records of what it read):
an envelope signed more than the window ago, by this host's clock, is [expired], and so is one
signed more than ``CLOCK_SKEW_S`` ahead of it. A dead letter replayed on purpose is signed
anew: its ``replayed_at`` counts, not the event's time.
"""

from __future__ import annotations

import time

from framework.events.envelope import Envelope
from framework.events.records import DeadLetterReason

CLOCK_SKEW_S = 60  # how far hosts' clocks may disagree (publisher, consumers, the broker)


def signed_at(envelope: Envelope) -> float:
    """When an envelope was signed: ``replayed_at`` if replayed, else its time."""
    replayed = envelope.metadata.get("replayed_at")
    return replayed if type(replayed) in (int, float) else envelope.time  # type: ignore[return-value]


def bounds(window: float) -> tuple[float, float]:
    """The signing times accepted now: (oldest, newest), as UNIX times."""
    now = time.time()
    return now - window, now + CLOCK_SKEW_S


def staleness(envelope: Envelope, window: float, key: str) -> tuple[DeadLetterReason, str] | None:
    """Why an envelope is too old (or too far ahead) to handle; None when it is fresh.

    ``key``: the setting holding the window, named in the explanation.
    """
    age = time.time() - signed_at(envelope)
    if age > window:
        return DeadLetterReason.EXPIRED, (
            f"signed {age:.0f} s ago, longer than {key} ({window} s): a replayed copy, or an "
            "event that waited too long to be read; replay it by id if it was never handled"
        )
    if age < -CLOCK_SKEW_S:
        return DeadLetterReason.EXPIRED, (
            f"signed {-age:.0f} s in the future: the publisher's clock is more than "
            f"{CLOCK_SKEW_S} s ahead of this host's"
        )
    return None
