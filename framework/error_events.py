"""Error events: each failure the app sees, published as ``error.<kind>`` with secrets masked.

Five kinds, each from the place that knows of it, handed this reporter rather than importing
the app: ``handler`` (a handler attempt failed: the bus's failure listener), ``dead_letter``
(an event set aside: likewise), ``start`` (a component failed to start), ``health`` (a
component or check turned unhealthy) and ``reload`` (a config change was rejected). The last
three are read off the framework's own system events as the app emits them
(``system.component.failed``, ``system.health.changed``, ``config.rejected``), so the
lifecycle, the health monitor and the reloader need no second channel.

Every payload: component, kind, cause, correlation_id, count, severity, topic (of the event
that failed, for handler and dead-letter errors), time, and a few fields of its kind. The
whole payload goes through the process's secret masker before it is published.

Two rules keep reporting from hurting what it reports on: a failure while handling (or
delivering) an ``error.*`` event is logged, never published (it would report itself in a
loop); and reporting never raises into the caller.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Literal

from loguru import logger

from framework.events.envelope import new_id
from framework.events.failures import Failure
from framework.secrets import SecretMasker
from framework.types import Publish

Severity = Literal["info", "warning", "error", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error", "critical")  # lowest first
ERROR_PREFIX = "error."
KINDS = ("handler", "start", "dead_letter", "health", "reload")


class ErrorReporter:
    """Turns failures into ``error.<kind>`` events on ``publish`` (the app's ``emit``).

    ``optional(name)``: whether a component is optional (its failed start is an ``error``, the
    app running degraded; a required one's is ``critical``).
    """

    def __init__(self, publish: Publish, masker: SecretMasker, optional: Callable[[str], bool]) -> None:
        self._publish, self._masker, self._optional = publish, masker, optional
        self.counts: Counter[tuple[str, str]] = Counter()  # errors per (kind, component) since start
        self.log = logger.bind(component="app")

    def report(
        self,
        kind: str,
        component: str,
        cause: str,
        *,
        severity: Severity = "error",
        correlation_id: str | None = None,
        count: int | None = None,
        topic: str | None = None,
        **details: Any,
    ) -> None:
        """Publish one ``error.<kind>`` event; ``count`` defaults to this component's errors of
        that kind so far. Never raises."""
        if topic is not None and topic.startswith(ERROR_PREFIX):
            self.log.bind(event="error.unreported", kind=kind, topic=topic).warning(
                self._masker(f"{kind} failure of '{component}' on error event '{topic}' not published"
                             f" (it would report itself): {cause}")
            )
            return
        self.counts[(kind, component)] += 1
        data = {
            "component": component,
            "kind": kind,
            "cause": cause,
            "correlation_id": correlation_id or new_id(),
            "count": count if count is not None else self.counts[(kind, component)],
            "severity": severity,
            "topic": topic,
            "time": time.time(),
            **details,
        }
        try:
            self._publish(f"{ERROR_PREFIX}{kind}", self._masker.scrub(data))
        except Exception as exc:  # the failure being reported must not gain a second one
            self.log.bind(event="error.publish_failed", kind=kind).warning(
                f"could not publish error.{kind}: {type(exc).__name__}"
            )

    # the bus's failure listener

    def bus_failure(self, failure: Failure) -> None:
        """A failed handler attempt (``warning`` while a retry follows) or a dead letter."""
        if failure.kind == "handler":
            severity: Severity = "error" if failure.final else "warning"
            self.report(
                "handler", failure.subscriber, failure.cause, severity=severity, count=failure.count,
                correlation_id=failure.correlation_id, topic=failure.topic, final=failure.final,
            )
        else:
            self.report(
                "dead_letter", failure.subscriber, failure.cause, count=failure.count,
                correlation_id=failure.correlation_id, topic=failure.topic or None, reason=failure.reason,
            )

    # the app's own system events

    def observe(self, topic: str, data: Mapping[str, Any]) -> None:
        """Derive an error event from a system event the app just emitted, if it is one."""
        if topic == "system.component.failed" and data.get("previous") == "starting":
            name = str(data.get("component"))
            severity: Severity = "error" if self._optional(name) else "critical"
            self.report("start", name, str(data.get("reason")), severity=severity)
        elif topic == "system.health.changed" and data.get("status") == "unhealthy" and data.get("scope") != "app":
            reason = data.get("reason") or "unhealthy"
            self.report("health", str(data.get("name")), str(reason), scope=data.get("scope"),
                        previous=data.get("previous"))
        elif topic == "config.rejected":
            reasons = data.get("reasons") or ["rejected"]
            self.report("reload", "app", "; ".join(map(str, reasons)), severity="warning",
                        version=data.get("version"), trigger=data.get("trigger"))
