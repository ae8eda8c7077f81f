"""Health records: what a check says (status, report), what is kept per component, settings,
transitions and probe answers. Plain data the monitor (``framework.health``) fills in and the
supervisor and the admin API read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class HealthStatus(StrEnum):
    """How a component (or the whole app) is doing; worse statuses sort higher."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}
_ACCEPTED = "a HealthStatus, 'healthy'/'degraded'/'unhealthy', a bool, None, or a dict with 'status'"


@dataclass(frozen=True, slots=True)
class HealthReport:
    """One check's answer: a status and free-form, JSON-friendly details."""

    status: HealthStatus
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Any) -> HealthReport:
        """Normalize what a ``health()`` returned; anything unexpected is unhealthy, saying why."""
        if isinstance(value, HealthReport):
            return value
        if value is None or value is True:
            return cls(HealthStatus.HEALTHY)
        if value is False:
            return cls(HealthStatus.UNHEALTHY)
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Mapping):
            report = cls.of(value[0])
            return cls(report.status, {**value[1], **report.details})
        if isinstance(value, Mapping) and "status" in value:
            report = cls.of(value["status"])
            return cls(report.status, {k: v for k, v in value.items() if k != "status"})
        if isinstance(value, str):
            try:
                return cls(HealthStatus(value.lower()))
            except ValueError:
                pass
        return cls(
            HealthStatus.UNHEALTHY, {"error": f"health() returned {value!r:.80}; expected {_ACCEPTED}"}
        )

    @property
    def reason(self) -> str | None:
        """The ``error`` (else ``reason``) detail, if any: what a log line or probe names."""
        for key in ("error", "reason"):
            if key in self.details:
                return str(self.details[key])
        return None


def unhealthy(error: str) -> HealthReport:
    return HealthReport(HealthStatus.UNHEALTHY, {"error": error})


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """The normalized ``health`` section: the monitor's keys, then the supervisor's."""

    enabled: bool = True
    interval: float = 5.0
    timeout: float = 2.0
    history_size: int = 100
    failure_threshold: int = 3
    max_restarts: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    stable_after: float = 300.0

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> HealthSettings:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in section.items() if k in known})


@dataclass(slots=True)
class ComponentHealth:
    """What is known about one component: its last check, and what a supervisor did about it.

    The monitor writes the check (``status`` to ``duration``); ``failures`` to ``gave_up`` are
    kept by whoever acts on the checks (``framework.supervisor``) and only shown here.
    """

    name: str
    status: HealthStatus = HealthStatus.HEALTHY
    details: Mapping[str, Any] = field(default_factory=dict)
    checked_at: float | None = None
    duration: float | None = None
    failures: int = 0  # failed checks in a row that count toward a restart
    restarts: int = 0  # since it was last stable for stable_after (max_restarts counts these)
    restarts_total: int = 0  # since start, never reset (the restarts counter)
    restarted_at: float | None = None
    restarting: bool = False
    gave_up: bool = False

    @property
    def reason(self) -> str | None:
        return HealthReport(self.status, self.details).reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "details": dict(self.details),
            "checked_at": self.checked_at,
            "duration": self.duration,
            "consecutive_failures": self.failures,
            "restarts": self.restarts,
            "restarting": self.restarting,
            "gave_up": self.gave_up,
        }


@dataclass(frozen=True, slots=True)
class HealthChange:
    """One transition: of a component (``scope='component'``) or of the app's aggregate."""

    time: float
    scope: str
    name: str
    status: HealthStatus
    previous: HealthStatus
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "scope": self.scope,
            "name": self.name,
            "status": self.status.value,
            "previous": self.previous.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Probe:
    """A readiness or liveness answer with the reasons behind a 'no'."""

    ok: bool
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


# Called with a component's record after each of its checks (after any change is published).
HealthListener = Callable[[ComponentHealth], None]
# Names what a component the lifecycle holds ``degraded`` waits for (shown as its reason).
WaitsFor = Callable[[str], Collection[str]]
