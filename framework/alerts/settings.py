"""The ``alerts`` config section: its Cerberus schema, its typed view and the sink-name check.

A route names its sinks by name: ``log``, a webhook of the same section, or a component whose
class implements ``AlertSink``. Components live in another section, so that check runs where
the classes are known (``framework.assembly``), before anything starts and on every reload.
Webhooks are a list, not a mapping by name, so that their ``url`` has one key path that the
schema can mark secret (``alerts.webhooks.url``, list items sharing their list's path).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.alerts.sink import implements_alert_sink
from framework.config.schema import Schema
from framework.error_events import SEVERITIES
from framework.errors import ConfigError
from framework.events.topics import validate_pattern
from framework.types import KeyPath

LOG_SINK = "log"
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_Report = Callable[[str, str], None]


def _check_pattern(field: str, value: Any, error: _Report) -> None:
    if isinstance(value, str):
        try:
            validate_pattern(value)
        except ValueError as exc:
            error(field, str(exc))


ROUTE_SCHEMA: Schema = {
    "name": {
        "type": "string",
        "nullable": True,
        "regex": _NAME,
        "default": None,
        "description": "names the route in the alerts it sends; default: its position in the list",
    },
    "topics": {
        "type": "list",
        "minlength": 1,
        "schema": {"type": "string", "check_with": _check_pattern},
        "default": ["error.**"],
        "description": "topic patterns whose events the route takes, as the bus writes them ('error.**', 'trade.*')",
    },
    "min_severity": {
        "type": "string",
        "allowed": list(SEVERITIES),
        "default": "warning",
        "description": "events below this severity are left out (info < warning < error < critical;"
        " an event without a severity counts as info)",
    },
    "window": {
        "type": "number",
        "min": 0,
        "default": 0,
        "description": "rate limit, in seconds: the events of one topic within this long of the first"
        " become one alert with their count, sent when the window closes; 0 sends one alert per event",
    },
    "sinks": {
        "type": "list",
        "minlength": 1,
        "required": True,
        "schema": {"type": "string", "empty": False},
        "description": "where the alerts go: 'log', the name of a webhook, or a component implementing AlertSink",
    },
}

WEBHOOK_SCHEMA: Schema = {
    "name": {"type": "string", "required": True, "regex": _NAME, "description": "what routes call it"},
    "url": {
        "type": "string",
        "required": True,
        "regex": r"^https?://\S+$",
        "secret": True,
        "description": "where alerts are POSTed as JSON; a secret (it often carries a token)",
    },
    "timeout": {"type": "number", "min": 0.001, "default": 5.0, "description": "seconds one POST may take"},
    "retries": {
        "type": "integer",
        "min": 0,
        "default": 3,
        "description": "POSTs tried again after a failure (an error, a timeout, a non-2xx answer)",
    },
    "backoff": {
        "type": "number",
        "min": 0,
        "default": 0.5,
        "description": "seconds before the first retry, doubling each time",
    },
}

ALERTS_SCHEMA: Schema = {
    "routes": {
        "type": "list",
        "schema": {"type": "dict", "schema": ROUTE_SCHEMA},
        "default": [],
        "description": "which events become alerts, and where each goes; applied live on reload",
    },
    "webhooks": {
        "type": "list",
        "schema": {"type": "dict", "schema": WEBHOOK_SCHEMA},
        "default": [],
        "description": "HTTP endpoints that receive alerts as JSON POSTs, by name",
    },
}


@dataclass(frozen=True)
class Route:
    name: str
    topics: tuple[str, ...]
    min_severity: str
    window: float
    sinks: tuple[str, ...]


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    timeout: float
    retries: int
    backoff: float


@dataclass(frozen=True)
class AlertSettings:
    """A normalized ``alerts`` section as typed values."""

    routes: tuple[Route, ...] = ()
    webhooks: Mapping[str, Webhook] = field(default_factory=dict)

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> AlertSettings:
        routes = tuple(
            Route(
                route["name"] or str(index),
                tuple(route["topics"]),
                route["min_severity"],
                float(route["window"]),
                tuple(route["sinks"]),
            )
            for index, route in enumerate(section.get("routes") or ())
        )
        webhooks = {
            hook["name"]: Webhook(hook["name"], hook["url"], hook["timeout"], hook["retries"], hook["backoff"])
            for hook in section.get("webhooks") or ()
        }
        return cls(routes, webhooks)


def sink_problems(
    section: Mapping[str, Any], classes: Mapping[str, type], where: Callable[[KeyPath], str]
) -> list[ConfigError]:
    """Each sink name that is not 'log', a webhook or a component implementing AlertSink, and
    each webhook name given twice (or as 'log'). ``classes``: the enabled components' classes;
    ``where(path)`` says where a key was set."""
    problems: list[ConfigError] = []
    hooks = [hook["name"] for hook in section.get("webhooks") or ()]
    for index, name in enumerate(hooks):
        if name == LOG_SINK or name in hooks[:index] or name in classes:
            clash = "the log sink" if name == LOG_SINK else "a component" if name in classes else "another webhook"
            problems.append(_problem(f"alerts.webhooks.{index}.name", name, f"is also {clash}'s name;"
                                     " give each sink a name of its own", where(("alerts", "webhooks"))))
    for index, route in enumerate(section.get("routes") or ()):
        for position, sink in enumerate(route["sinks"]):
            reason = _sink_reason(sink, hooks, classes)
            if reason:
                key = f"alerts.routes.{index}.sinks.{position}"
                problems.append(_problem(key, sink, reason, where(("alerts", "routes"))))
    return problems


def _sink_reason(sink: str, hooks: list[str], classes: Mapping[str, type]) -> str | None:
    if sink == LOG_SINK or sink in hooks:
        return None
    cls = classes.get(sink)
    if cls is not None:
        missing = implements_alert_sink(cls)
        return None if missing is None else f"component '{sink}' ({cls.__qualname__}) is no AlertSink: {missing}"
    webhooks = ", ".join(repr(h) for h in hooks) or "none defined"
    components = ", ".join(repr(n) for n, c in classes.items() if implements_alert_sink(c) is None) or "none enabled"
    return (f"is not a sink; accepted: 'log', a webhook of alerts.webhooks ({webhooks}), or an enabled"
            f" component implementing AlertSink ({components})")


def _problem(key: str, value: str, reason: str, origin: str) -> ConfigError:
    return ConfigError(f"{key}: {reason} (got {value!r}) [{origin}]")
