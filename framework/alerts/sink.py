"""Where alerts go: the ``AlertSink`` contract a component implements, and the log sink.

An alert is plain data: ``route``, ``topic``, ``severity``, ``count`` (the events the rate
limit folded into it), ``first`` and ``last`` (epoch seconds), ``components`` (whose events
they were) and ``event`` (the last event's payload, secrets masked).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, runtime_checkable

from loguru import logger

Alert = Mapping[str, Any]

_LEVELS = {"info": "INFO", "warning": "WARNING", "error": "ERROR", "critical": "CRITICAL"}


@runtime_checkable
class AlertSink(Protocol):
    """A component that takes alerts: name it among a route's ``sinks``.

    ``send_alert`` may be plain or ``async``; what it raises is logged, and never reaches the
    bus or the other sinks.
    """

    def send_alert(self, alert: Alert) -> Awaitable[None] | None: ...


def implements_alert_sink(cls: type) -> str | None:
    """None when ``cls`` can take alerts, else what it lacks."""
    method = getattr(cls, "send_alert", None)
    if not callable(method):
        return "it has no method send_alert(alert)"
    try:
        inspect.signature(method).bind(None, {})  # (self, alert)
    except TypeError:
        return f"send_alert{inspect.signature(method)} cannot be called as send_alert(alert)"
    except ValueError:  # no signature to read (a builtin): trust it
        return None
    return None


def log_alert(alert: Alert) -> None:
    """The ``log`` sink: one record at the alert's severity, its fields bound."""
    count = alert["count"]
    times = f" ({count} events in {alert['last'] - alert['first']:.1f} s)" if count > 1 else ""
    cause = alert["event"].get("cause") if isinstance(alert["event"], Mapping) else None
    text = f"alert '{alert['route']}': {alert['topic']}{times}" + (f": {cause}" if cause else "")
    logger.bind(component="alerts", event="alert", **{k: v for k, v in alert.items() if k != "event"}).log(
        _LEVELS.get(str(alert["severity"]), "WARNING"), text
    )
