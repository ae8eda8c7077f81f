"""Handlers as their subscribers wrote them: typed payloads, and older versions brought up.

A handler whose (first) parameter is annotated with a model (a dataclass, a TypedDict or a
Pydantic model) receives the event's data validated into that model, not the envelope. A
subscriber requiring a topic at schema version N gets events of an older version converted by
its upcasters, whichever process published them.
"""

from __future__ import annotations

import functools
import inspect
import typing
from typing import Any

from framework.events.envelope import Envelope
from framework.events.payloads import Declarations, adapter, is_model
from framework.events.records import Handler


def annotated_model(handler: Handler) -> type | None:
    """The model the handler's first parameter is annotated with, if it is one."""
    try:
        parameters = list(inspect.signature(handler).parameters.values())
        hints = typing.get_type_hints(handler)
    except (TypeError, ValueError, NameError):  # a builtin, or an annotation that cannot resolve
        return None
    if not parameters:
        return None
    hint = hints.get(parameters[0].name)
    return hint if is_model(hint) else None


def _versioned(requires: Declarations | None) -> bool:
    return bool(requires) and any(d.version > 1 for d in requires.by_pattern.values())  # type: ignore[union-attr]


def delivering(handler: Handler, requires: Declarations | None) -> Handler:
    """``handler`` itself when nothing needs converting; else a handler that converts first."""
    model = annotated_model(handler)
    if model is None and not _versioned(requires):
        return handler
    to_model = adapter(model).validate_python if model is not None else None

    @functools.wraps(handler)
    def deliver(envelope: Envelope) -> Any:
        declared = requires.for_topic(envelope.type) if requires else None
        if declared is not None and envelope.schema_version < declared.version:
            data = declared.upcasted(envelope.type, envelope.data, envelope.schema_version)
            envelope = _with_data(envelope, data, declared.version)
        return handler(to_model(envelope.data)) if to_model is not None else handler(envelope)

    return deliver


def _with_data(envelope: Envelope, data: Any, version: int) -> Envelope:
    """A copy carrying other data: the original is shared with other subscribers."""
    return Envelope(
        envelope.type,
        data,
        envelope.source,
        envelope.priority,
        envelope.correlation_id,
        envelope.causation_id,
        envelope.metadata,
        id=envelope.id,
        time=envelope.time,
        schema_version=version,
        key=envelope.key,
    )
