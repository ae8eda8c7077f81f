"""Delivery failures the bus tells its owner about: a failed handler attempt, a dead letter.

The bus only reports them; what to make of them (``error.*`` events, alerts) is the app's
business, handed down as a ``FailureListener``. A listener must not raise into delivery, so
``notify`` swallows (and logs) whatever it raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from loguru import logger

from framework.events.envelope import Envelope


@dataclass(frozen=True, slots=True)
class Failure:
    """One failure: of a handler attempt (``kind='handler'``) or an event set aside (``'dead_letter'``).

    ``count``: the attempts the event has failed so far (1 for a dead letter not caused by its
    handler); ``final``: no retry follows. ``reason``: a dead letter's reason (``queue_full``...).
    """

    kind: Literal["handler", "dead_letter"]
    subscriber: str
    topic: str
    correlation_id: str | None
    cause: str
    count: int = 1
    final: bool = True
    reason: str | None = None


FailureListener = Callable[[Failure], None]


def set_aside(subscriber: str, reason: str, error: str, envelope: Envelope | None) -> Failure:
    """The failure a dead letter stands for (``envelope`` None: a foreign entry, topic unknown)."""
    if envelope is None:
        return Failure("dead_letter", subscriber, "", None, error, reason=reason)
    correlation = envelope.correlation_id or envelope.id
    return Failure("dead_letter", subscriber, envelope.type, correlation, error, envelope.attempts, reason=reason)


def notify(listener: FailureListener | None, failure: Failure) -> None:
    """Tell ``listener`` (if any) of ``failure``; a listener that raises is logged, never raised."""
    if listener is None:
        return
    try:
        listener(failure)
    except Exception as exc:  # delivery goes on whatever the app's reporting does
        logger.bind(component="event_bus", event="bus.failure_listener_failed").warning(
            f"reporting a {failure.kind} failure of '{failure.subscriber}' raised {type(exc).__name__}"
        )
