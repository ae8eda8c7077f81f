"""Event keys: what a key may be, and where a topic that declares its key field finds it.

A key groups events that must be handled in order by one consumer (one trading symbol's ticks,
one order's updates). It is given to ``publish(..., key=...)``, or found in the event's data
when the topic declares its key field in ``event_bus.topics`` (``market.tick: {key: symbol}``):
then every publisher of that topic keys its events alike without saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_KEY_LENGTH = 1024

# One event of a ``publish_many`` batch: (topic, data), or (topic, data, key) to give its key.
Publication = tuple[str, Any] | tuple[str, Any, str | None]


def check_key(key: object) -> str | None:
    """The key if it is None or a non-empty str of at most MAX_KEY_LENGTH characters; ValueError otherwise."""
    if key is None or (type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH):
        return key
    shown = f"a str of {len(key)} characters" if isinstance(key, str) else f"{type(key).__name__} {key!r:.40}"
    raise ValueError(
        f"event key {shown} is invalid: use a non-empty str of at most {MAX_KEY_LENGTH} characters"
        " (events of one key go to one consumer, in order), or None"
    )


def key_in_data(topic: str, data: Any, field: str) -> str:
    """The key of an event of ``topic``, whose key is its data's ``field`` (dotted: nested).

    A str is taken as it is, an int (a numeric id) as its decimal text; anything else, or a
    missing field, is a ValueError naming the topic and the field: a key silently missing would
    scatter the events it should keep together.
    """
    value: Any = data
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ValueError(
                f"topic '{topic}' is keyed by its data's '{field}' (event_bus.topics), and this"
                f" event's data has no '{field}'; pass key=... to publish, or add the field"
            )
        value = value[part]
    if type(value) is int:
        value = str(value)
    if type(value) is not str:
        raise ValueError(
            f"topic '{topic}' is keyed by its data's '{field}', which is {type(value).__name__} here;"
            " a key field holds a str or an int"
        )
    return check_key(value)  # type: ignore[return-value]
