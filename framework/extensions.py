"""Extension points: a component consumes a point, others extend it, the consumer receives them.

A consumer class declares its points, each with a contract and a cardinality::

    extension_points = {"trade_sinks": ExtensionPoint(TradeSink)}                      # many
    extension_points = {"pricer": ExtensionPoint(Pricer, cardinality="one")}           # exactly one

and receives each point as the constructor parameter of that name: the enabled components that
extend it, in the order their entries appear in the config. A component extends a point with
``extends: [trade_sinks]`` in its entry, or ``extends = ("trade_sinks",)`` on its class.

Before anything is built every provider is checked against the point's contract (an error
names the provider, the point and the method), and the cardinality is checked. A consumer
depends on its providers: they start before it and stop after it, and ``integrate graph``
shows these edges apart from ``depends_on``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

from framework.component import ComponentSpec
from framework.contracts import violations
from framework.errors import ConfigError

Cardinality = Literal["one", "many"]


class ExtensionError(ConfigError):
    """An extension point declared, extended or provided wrongly."""


@dataclass(frozen=True)
class ExtensionPoint:
    """A point a component consumes: what its providers must implement, and how many it takes."""

    contract: type
    cardinality: Cardinality = "many"

    def __post_init__(self) -> None:
        if self.cardinality not in ("one", "many"):
            raise ValueError(f"cardinality must be 'one' or 'many' (got {self.cardinality!r})")
        if not inspect.isclass(self.contract):
            raise TypeError(f"an extension point's contract is a Protocol or ABC class (got {self.contract!r})")


@dataclass(frozen=True)
class Extensions:
    """Who extends what: each point's consumer, and each consumer's providers per point, in order."""

    consumers: Mapping[str, str] = field(default_factory=dict)  # point -> consumer
    # consumer -> point -> providers, in config order
    providers: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)


def declared_points(name: str, cls: type) -> tuple[dict[str, ExtensionPoint], list[ExtensionError]]:
    """The points a component's class declares, and what is wrong with the declaration."""
    declared = getattr(cls, "extension_points", None)
    if not declared:  # most classes: nothing to check, and no signature to read
        return {}, []
    where = f"components.{name} ({cls.__qualname__}).extension_points"
    if not isinstance(declared, Mapping):
        return {}, [ExtensionError(f"{where}: must map point names to ExtensionPoint(...)")]
    points, problems = {}, []
    params = _parameters(cls)
    for point, declaration in declared.items():
        if not isinstance(declaration, ExtensionPoint):
            problems.append(ExtensionError(f"{where}: '{point}' must be an ExtensionPoint(contract, cardinality)"))
        elif params is not None and point not in params:
            problems.append(ExtensionError(f"{where}: '{point}' is no parameter of its constructor, which receives it"))
        else:
            points[str(point)] = declaration
    return points, problems


def extends_of(spec: ComponentSpec, cls: type) -> tuple[str, ...]:
    """The points a component extends: its entry's ``extends``, then its class's, once each."""
    return tuple(dict.fromkeys((*spec.extends, *(getattr(cls, "extends", ()) or ()))))


def plan_extensions(
    specs: Mapping[str, ComponentSpec], classes: Mapping[str, type], dormant: Collection[str] = ()
) -> tuple[Extensions, list[ConfigError]]:
    """Match the enabled components' extensions to the points their consumers declare.

    ``dormant``: points that disabled components declare. Extending one is no error (a profile
    that disables the consumer need not disable its providers); the extension waits unused.
    """
    consumers: dict[str, str] = {}
    declarations: dict[str, ExtensionPoint] = {}
    problems: list[ConfigError] = []
    for name, cls in classes.items():
        points, found = declared_points(name, cls)
        problems += found
        for point, declaration in points.items():
            if point in consumers:
                problems.append(ExtensionError(
                    f"components.{name}: extension point '{point}' is declared by '{consumers[point]}' too;"
                    " a point has one consumer"
                ))
                continue
            consumers[point], declarations[point] = name, declaration
    chosen: dict[str, dict[str, list[str]]] = {}
    for point, consumer in consumers.items():
        chosen.setdefault(consumer, {})[point] = []
    for name, cls in classes.items():  # config order: the order providers are handed over
        for point in extends_of(specs[name], cls):
            if point not in consumers and point in dormant:
                continue
            problem = _extension_problem(name, cls, point, consumers, declarations)
            if problem:
                problems.append(problem)
            else:
                chosen[consumers[point]][point].append(name)
    problems += _cardinality_problems(chosen, declarations)
    providers = {c: {p: tuple(names) for p, names in points.items()} for c, points in chosen.items()}
    return Extensions(consumers, providers), problems


def _extension_problem(
    name: str, cls: type, point: str, consumers: Mapping[str, str], declarations: Mapping[str, ExtensionPoint]
) -> ExtensionError | None:
    if point not in consumers:
        close = difflib.get_close_matches(point, consumers, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = ", ".join(sorted(consumers)) or "none"
        return ExtensionError(
            f"components.{name}.extends: '{point}' is no extension point of an enabled component"
            f" (points: {known}){hint}"
        )
    if consumers[point] == name:
        return ExtensionError(f"components.{name}.extends: '{point}' is its own extension point")
    broken = list(violations(name, cls, declarations[point].contract))
    if broken:
        return ExtensionError(f"{'; '.join(broken)} (extension point '{point}' of '{consumers[point]}')")
    return None


def _cardinality_problems(
    chosen: Mapping[str, Mapping[str, list[str]]], declarations: Mapping[str, ExtensionPoint]
) -> list[ConfigError]:
    problems: list[ConfigError] = []
    for consumer, points in chosen.items():
        for point, names in points.items():
            if declarations[point].cardinality == "one" and len(names) != 1:
                given = ", ".join(f"'{n}'" for n in names) or "none"
                problems.append(ExtensionError(
                    f"components.{consumer}: extension point '{point}' takes exactly one provider"
                    f" (cardinality one); enabled providers: {given}"
                ))
    return problems


def _parameters(cls: type) -> set[str] | None:
    """Its constructor's parameter names; None when it takes any keyword (or has no signature)."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}
