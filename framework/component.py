"""The component spec: an inert description of one `components.<name>` entry.

Built from the snapshot, never mutated; the container builds the instance late.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from framework.errors import ConfigError


@dataclass(frozen=True)
class Dependency:
    """`market_feed>=1.2`: a component name and an optional PEP 440 version constraint."""

    name: str
    constraint: str  # normalized by packaging, e.g. ">=1.2"; "" when any version will do

    @classmethod
    def parse(cls, text: str, owner: str) -> Dependency:
        if text.isidentifier():  # the common case; packaging costs 20 ms of start-up to import
            return cls(text, "")
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise ConfigError(
                f"components.{owner}.depends_on: '{text}' is not a component name with an"
                f" optional version constraint such as 'feed>=1.2' ({exc})"
            ) from exc
        return cls(requirement.name, str(requirement.specifier))

    def __str__(self) -> str:
        return f"{self.name}{self.constraint}"


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    class_ref: str
    enabled: bool
    optional: bool
    depends_on: tuple[Dependency, ...]
    config: Mapping[str, Any]
    publishes: tuple[str, ...] | None
    subscribes: tuple[str, ...] | None
    start_timeout: float
    stop_timeout: float
    extends: tuple[str, ...] = ()  # extension points it extends (framework.extensions)

    def topics(self, cls: type) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        """The topic patterns it may publish and subscribe to: its YAML entry's, else its class's
        (None: unrestricted)."""
        publishes = self.publishes if self.publishes is not None else getattr(cls, "publishes", None)
        subscribes = self.subscribes if self.subscribes is not None else getattr(cls, "subscribes", None)
        return (
            None if publishes is None else tuple(publishes),
            None if subscribes is None else tuple(subscribes),
        )

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any], app: Mapping[str, Any]) -> ComponentSpec:
        publishes, subscribes = entry.get("publishes"), entry.get("subscribes")
        return cls(
            name=name,
            class_ref=entry["class"],
            enabled=entry.get("enabled", True),
            optional=entry.get("optional", False),
            depends_on=tuple(Dependency.parse(d, name) for d in entry.get("depends_on", ())),
            config=entry.get("config", {}),
            publishes=tuple(publishes) if publishes is not None else None,
            subscribes=tuple(subscribes) if subscribes is not None else None,
            start_timeout=entry.get("start_timeout") or app.get("start_timeout", 30.0),
            stop_timeout=entry.get("stop_timeout") or app.get("stop_timeout", 10.0),
            extends=tuple(entry.get("extends", ())),
        )


def specs_of(snapshot_data: Mapping[str, Any]) -> dict[str, ComponentSpec]:
    """Every component entry of a snapshot, enabled or not, in YAML order."""
    app = snapshot_data.get("app", {})
    components = snapshot_data.get("components", {}) or {}
    return {name: ComponentSpec.from_entry(name, entry, app) for name, entry in components.items()}
