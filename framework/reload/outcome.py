"""What a reload did: the kinds of action and outcome, each change and step, and the history.

Everything here is plain, JSON-friendly data: the admin API, the bus event and the log line of
an attempt are all made from ``ReloadOutcome.to_dict()``.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from framework.types import KeyPath


class ActionKind(StrEnum):
    """What a reload does to one component or framework section."""

    RECONFIGURE = "reconfigure"  # on_config_change(new config, changed keys)
    RESTART = "restart"  # stop, rebuild with the new config, start
    START = "start"  # added or enabled
    STOP = "stop"  # removed or disabled
    REJECT = "reject"  # the change cannot be applied while running
    EXTEND = "extend"  # on_extensions_change(its extension points' providers, as now configured)


class ReloadStatus(StrEnum):
    """How a reload attempt ended."""

    APPLIED = "applied"  # snapshot N+1 committed
    UNCHANGED = "unchanged"  # the files changed, the composed config did not
    REJECTED = "rejected"  # snapshot N kept
    PLANNED = "planned"  # a dry run that would apply


@dataclass(frozen=True)
class ConfigChange:
    """One changed leaf key; values are already masked where the key is secret."""

    key: str
    old: Any
    new: Any
    kind: str = "changed"  # or "added", "removed" (the missing side is None)

    @property
    def path(self) -> KeyPath:
        return tuple(self.key.split("."))

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new, "kind": self.kind}


@dataclass(frozen=True)
class ReloadAction:
    """One step of a reload plan."""

    kind: ActionKind
    target: str  # a component name, or a framework section such as "logging"
    keys: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.kind.value,
            "target": self.target,
            "keys": list(self.keys),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ShadowedEdit:
    """A file edit with no effect: an env var or a launch override wins for that key."""

    key: str
    file: str  # where the edited value sits, "conf/x.yaml:4"
    winner: str  # "env APP__X" or "argument x=1"
    layer: str  # the winning layer's name

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "file": self.file, "winner": self.winner, "layer": self.layer}


@dataclass(frozen=True)
class ReloadOutcome:
    """The result of one reload attempt (or dry run), as plain, JSON-friendly data."""

    status: ReloadStatus
    version: int  # the version running afterwards (a dry run: the one it would commit)
    trigger: str  # "watch", "signal" or "api"
    time: float  # epoch seconds when the attempt began
    duration_ms: float
    dry_run: bool = False
    changes: tuple[ConfigChange, ...] = ()
    actions: tuple[ReloadAction, ...] = ()
    reasons: tuple[str, ...] = ()
    shadowed: tuple[ShadowedEdit, ...] = ()

    @property
    def ok(self) -> bool:
        """True unless the change was (or, for a dry run, would be) rejected."""
        return self.status is not ReloadStatus.REJECTED

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.status.value,
            "version": self.version,
            "trigger": self.trigger,
            "time": self.time,
            "duration_ms": self.duration_ms,
            "dry_run": self.dry_run,
            "changes": [c.to_dict() for c in self.changes],
            "actions": [a.to_dict() for a in self.actions],
            "reasons": list(self.reasons),
            "shadowed": [s.to_dict() for s in self.shadowed],
        }


class ReloadHistory:
    """The last ``size`` reload attempts, oldest first."""

    def __init__(self, size: int) -> None:
        self._entries: deque[ReloadOutcome] = deque(maxlen=size)
        self.totals: Counter[str] = Counter()  # every attempt by outcome, never forgotten (metrics)

    def record(self, outcome: ReloadOutcome) -> None:
        self._entries.append(outcome)
        self.totals[outcome.status.value] += 1

    def as_list(self) -> list[dict[str, Any]]:
        return [outcome.to_dict() for outcome in self._entries]

    def __len__(self) -> int:
        return len(self._entries)



@dataclass
class Attempt:
    """What one attempt has found so far."""

    trigger: str
    dry_run: bool
    began: float = field(default_factory=time.time)
    clock: float = field(default_factory=time.perf_counter)
    changes: Sequence[ConfigChange] = ()
    actions: Sequence[ReloadAction] = ()
    shadowed: Sequence[ShadowedEdit] = ()

    def outcome(self, status: ReloadStatus, version: int, reasons: Sequence[str] = ()) -> ReloadOutcome:
        return ReloadOutcome(
            status,
            version,
            self.trigger,
            round(self.began, 3),
            round((time.perf_counter() - self.clock) * 1000, 2),
            self.dry_run,
            tuple(self.changes),
            tuple(self.actions),
            tuple(reasons),
            tuple(self.shadowed),
        )

