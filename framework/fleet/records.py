"""What the fleet keeps and says: overlay versions, members, rollout orders and answers.

All plain data that travels as JSON. An overlay version holds its values as given, secrets
included (the store is the config's home, as a YAML file is); ``secrets`` lists which of its
keys are secret, so everything that shows a version masks them without composing the config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from framework.config.overlay import Overlay
from framework.secrets import MASK


def utc_minute(moment: float) -> str:
    """``2026-12-02T10:00Z``: how an overlay's time is shown in provenance."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class Change:
    """One key an overlay version changed: ``old``/``new`` absent (None) when unset/added."""

    key: str
    old: Any = None
    new: Any = None
    added: bool = False
    removed: bool = False


_ABSENT = object()


def changes_between(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[Change, ...]:
    """What turns overlay values ``old`` into ``new``, key by key, sorted."""
    return tuple(
        Change(key, old.get(key), new.get(key), added=key not in old, removed=key not in new)
        for key in sorted(set(old) | set(new))
        if old.get(key, _ABSENT) != new.get(key, _ABSENT)
    )


@dataclass(frozen=True)
class OverlayVersion:
    """One version of the overlay, immutable once written."""

    version: int
    values: Mapping[str, Any]
    set_at: float
    set_by: str
    note: str = ""  # "set", "unset", "rollback to v3", "automatic rollback: ..."
    changes: tuple[Change, ...] = ()
    secrets: frozenset[str] = frozenset()  # the keys whose values are secret

    def overlay(self) -> Overlay:
        return Overlay(self.version, dict(self.values), utc_minute(self.set_at), self.set_by)

    def masked_values(self) -> dict[str, Any]:
        return {k: MASK if k in self.secrets else v for k, v in sorted(self.values.items())}

    def masked_changes(self) -> list[dict[str, Any]]:
        shown = []
        for change in self.changes:
            row = asdict(change)
            if change.key in self.secrets:
                row.update(old=None if change.added else MASK, new=None if change.removed else MASK)
            shown.append(row)
        return shown

    def to_json(self) -> str:
        data = asdict(self)
        data["secrets"] = sorted(self.secrets)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> OverlayVersion:
        data = json.loads(text)
        return cls(
            version=int(data["version"]),
            values=dict(data["values"]),
            set_at=float(data["set_at"]),
            set_by=str(data["set_by"]),
            note=str(data.get("note", "")),
            changes=tuple(Change(**c) for c in data.get("changes", ())),
            secrets=frozenset(data.get("secrets", ())),
        )


class Outcome(StrEnum):
    """An instance's answer to a rollout order."""

    ACK = "ack"  # applied (or already running that version)
    NACK = "nack"  # rejected: still on its previous config
    PLANNED = "planned"  # a dry run's plan
    NO_ANSWER = "no answer"  # (the controller's verdict) nothing came back in time


class Op(StrEnum):
    APPLY = "apply"  # take overlay version N through the reload transaction
    PLAN = "plan"  # dry run of a draft overlay: say what would happen


@dataclass(frozen=True)
class Order:
    """A rollout order: what one ``fleet set`` (or rollback) asks of some or all instances."""

    rollout: str  # id of the rollout, which answers carry
    op: Op
    version: int  # the overlay version to apply (or the base of a draft)
    targets: tuple[str, ...] = ()  # instance names; () means every instance
    draft: str | None = None  # a dry run's draft key in the store

    def to_data(self) -> dict[str, Any]:
        return {**asdict(self), "targets": list(self.targets)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Order:
        return cls(
            rollout=str(data["rollout"]),
            op=Op(data["op"]),
            version=int(data["version"]),
            targets=tuple(str(t) for t in data.get("targets") or ()),
            draft=data.get("draft"),
        )


@dataclass(frozen=True)
class Answer:
    """One instance's answer to an order: ACK, NACK or its plan, with why and how long."""

    rollout: str
    instance: str
    version: int  # the overlay version it runs now (after the answer's attempt)
    digest: str  # its effective config digest now
    outcome: Outcome
    reasons: tuple[str, ...] = ()  # each with file:line or the overlay origin (masked)
    actions: tuple[str, ...] = ()  # "restart feed", "reconfigure analyzer" ...
    duration_ms: float = 0.0

    def to_data(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons), "actions": list(self.actions)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Answer:
        return cls(
            rollout=str(data["rollout"]),
            instance=str(data["instance"]),
            version=int(data["version"]),
            digest=str(data["digest"]),
            outcome=Outcome(data["outcome"]),
            reasons=tuple(str(r) for r in data.get("reasons") or ()),
            actions=tuple(str(a) for a in data.get("actions") or ()),
            duration_ms=float(data.get("duration_ms", 0.0)),
        )


@dataclass(frozen=True)
class Member:
    """What an instance registers about itself, renewed with every heartbeat."""

    instance: str
    app: str
    framework_version: str
    config_version: int
    digest: str  # the effective config's digest
    fleet_digest: str  # the same without launch arguments and the fleet section: drift compares it
    overlay_version: int  # 0: running without the overlay
    state: str  # lifecycle: starting, running, stopping
    health: str  # healthy, degraded, unhealthy, unknown
    admin_url: str | None
    started_at: float
    override_keys: tuple[str, ...] = ()  # the launch overrides' keys, never their values
    degraded: str | None = None  # why it runs without (or behind) the overlay
    rejected_version: int | None = None  # the last overlay version it NACKed
    heartbeat_at: float = field(default=0.0)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "override_keys": list(self.override_keys)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Member:
        data = json.loads(text)
        data["override_keys"] = tuple(data.get("override_keys") or ())
        return cls(**data)
