"""Assembly: the checked plan of what to build, made before anything is instantiated.

Resolves every enabled component's class, checks the dependency graph, constructor
parameters and contracts, and reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from framework.component import ComponentSpec, specs_of
from framework.config.compose import ConfigSource
from framework.config.loader import load_snapshot
from framework.config.schema import Schema
from framework.config.snapshot import Snapshot
from framework.container import wiring_problems
from framework.errors import ComponentsError, ConfigError
from framework.graph import Graph, build_graph
from framework.registry import Registry


@dataclass(frozen=True)
class Assembly:
    specs: Mapping[str, ComponentSpec]  # every entry, enabled or not
    classes: Mapping[str, type]  # enabled components only
    graph: Graph


def component_schema(name: str, entry: Mapping[str, Any], app: Mapping[str, Any]) -> Schema | None:
    """The config schema of a component's class, resolved under the app's import rules."""
    ref = entry.get("class")
    return Registry.for_app(app).config_schema(ref, name) if isinstance(ref, str) else None


def load(source: ConfigSource, version: int = 1, previous: Snapshot | None = None) -> Snapshot:
    """Compose, resolve and validate, component configs included (``previous``: see load_snapshot)."""
    return load_snapshot(source, component_schema, version, previous.composition if previous else None)


def assemble(snapshot: Snapshot) -> Assembly:
    app = snapshot.section("app")
    try:
        specs = specs_of(snapshot.data)
    except ConfigError as exc:
        raise ComponentsError([exc]) from exc
    registry = Registry.for_app(app)
    problems: list[ConfigError] = []
    classes: dict[str, type] = {}
    for name, spec in specs.items():
        if not spec.enabled:
            continue
        try:
            classes[name] = registry.resolve(spec.class_ref, name)
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        raise ComponentsError(list(problems))
    versions = {name: getattr(cls, "version", None) for name, cls in classes.items()}
    graph, graph_problems = build_graph(specs, versions, app.get("initialization_order", ()))
    problems.extend(graph_problems)
    if not graph_problems:
        problems.extend(wiring_problems(specs, classes, graph))
    if problems:
        raise ComponentsError(list(problems))
    return Assembly(specs, classes, graph)
