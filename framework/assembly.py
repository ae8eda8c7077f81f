"""Assembly: the checked plan of what to build, made before anything is instantiated.

Resolves every enabled component's class, checks the dependency graph, constructor
parameters and contracts, and reports every problem at once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.alerts.settings import ALERTS_SCHEMA, sink_problems
from framework.component import ComponentSpec, specs_of
from framework.config import loader
from framework.config.compose import ConfigSource
from framework.config.cross_field import ConfigCheck
from framework.config.fleet_section import FLEET_SCHEMA
from framework.config.fleet_section import section_problems as fleet_problems
from framework.config.modules_section import MODULES_SCHEMA
from framework.config.modules_section import section_problems as modules_problems
from framework.config.schema import Schema, trust
from framework.config.sections import (
    APP_SCHEMA,
    COMPONENT_ENTRY_SCHEMA,
    ERROR_HANDLING_SCHEMA,
    HEALTH_SCHEMA,
    HTTP_SCHEMA,
)
from framework.config.snapshot import Snapshot
from framework.container import Providers, wiring_problems
from framework.errors import ComponentsError, ConfigError, PayloadDeclarationError, PayloadMismatchError
from framework.events.compatibility import compatibility_problems
from framework.events.payloads import ComponentPayloads, component_payloads
from framework.events.settings import EVENT_BUS_SCHEMA
from framework.extensions import plan_extensions
from framework.graph import Graph, build_graph
from framework.log_settings import LOGGING_SCHEMA
from framework.registry import Registry
from framework.targets import target_problems


@dataclass(frozen=True)
class Assembly:
    specs: Mapping[str, ComponentSpec]  # every entry, enabled or not
    classes: Mapping[str, type]  # enabled components only
    graph: Graph
    payloads: Mapping[str, ComponentPayloads] = field(default_factory=dict)  # declared, by component


@dataclass
class Deployment:
    """What runs now: a snapshot, its checked assembly and the providers built from them.

    The app builds it at launch; a reload that commits replaces the three together.
    """

    snapshot: Snapshot
    assembly: Assembly
    container: Providers = field(default_factory=dict)


def _class_ref(entry: Mapping[str, Any]) -> Any:
    """What names an entry's class: ``class``, or ``_target_`` (Hydra's spelling) in its place."""
    return entry.get("class", entry.get("_target_"))


def component_schema(name: str, entry: Mapping[str, Any], app: Mapping[str, Any]) -> Schema | None:
    """The config schema of a component's class, resolved under the app's import rules."""
    ref = _class_ref(entry)
    return Registry.for_app(app).config_schema(ref, name) if isinstance(ref, str) else None


def component_check(name: str, entry: Mapping[str, Any], app: Mapping[str, Any]) -> ConfigCheck | None:
    """The cross-field check (``validate_config``) of a component's class, if it has one."""
    ref = _class_ref(entry)
    return Registry.for_app(app).config_check(ref, name) if isinstance(ref, str) else None


@functools.cache
def framework_sections() -> dict[str, Schema]:
    """Every framework section's schema, by top-level key (trusted: see ``trust``)."""
    trust(COMPONENT_ENTRY_SCHEMA)
    sections = {
        "app": APP_SCHEMA,
        "logging": LOGGING_SCHEMA,
        "event_bus": EVENT_BUS_SCHEMA,
        "health": HEALTH_SCHEMA,
        "error_handling": ERROR_HANDLING_SCHEMA,
        "http": HTTP_SCHEMA,
        "alerts": ALERTS_SCHEMA,
        "fleet": FLEET_SCHEMA,
        "modules": MODULES_SCHEMA,
    }
    return {name: trust(schema) for name, schema in sections.items()}


def load_config(
    source: ConfigSource,
    version: int = 1,
    previous: Snapshot | None = None,
    digests: Mapping[str, bytes] | None = None,
) -> Snapshot:
    """Compose, resolve and validate, framework sections and component configs included.

    ``previous``: the running snapshot, whose composition a reload re-merges where it can;
    ``digests``: each config file's sha256 as just hashed, so only the edited ones are re-read.
    """
    composition = previous.composition if previous else None
    return loader.load_config(
        source,
        framework_sections(),
        component_schema,
        version,
        composition,
        component_check,
        digests=digests,
        running=previous,
    )


def _dormant_points(specs: Mapping[str, ComponentSpec], registry: Registry) -> set[str]:
    """The extension points disabled components declare (a class that cannot load declares none)."""
    points: set[str] = set()
    for name, spec in specs.items():
        if not spec.enabled:
            try:
                cls = registry.resolve(spec.class_ref, name)
            except ConfigError:
                continue
            points.update(getattr(cls, "extension_points", None) or ())
    return points


def assemble(snapshot: Snapshot, running: tuple[Snapshot, Assembly] | None = None) -> Assembly:
    """The checked plan of a snapshot; ComponentsError lists every problem. ``running``: the
    snapshot and plan running now, reused when only components' `config` values changed."""
    if running is not None and (reused := _reassembled(snapshot, *running)) is not None:
        return reused
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
    extensions, problems = plan_extensions(specs, classes, _dormant_points(specs, registry))
    graph, graph_problems = build_graph(specs, versions, app.get("initialization_order", ()), extensions.providers)
    problems.extend(graph_problems)
    if not graph_problems:
        problems.extend(wiring_problems(specs, classes, graph))
    for name in classes:  # enabled ones: each `_target_` allowed, importable, its arguments fitting
        where = ("components", name, "config")
        problems.extend(target_problems(specs[name].config, where, registry.locate, snapshot.provenance.where))
    payloads, payload_problems = _payloads(snapshot, specs, classes)
    problems.extend(payload_problems)
    problems.extend(sink_problems(snapshot.section("alerts"), classes, snapshot.provenance.where))
    problems.extend(fleet_problems(snapshot.section("fleet"), snapshot.provenance.where))
    problems.extend(modules_problems(snapshot.section("modules"), snapshot.provenance.where))
    if problems:
        raise ComponentsError(list(problems))
    return Assembly(specs, classes, graph, payloads)


def _reassembled(snapshot: Snapshot, current: Snapshot, assembly: Assembly) -> Assembly | None:
    """``assembly`` with the edited components' specs, when ``snapshot`` was recomposed from
    ``current`` and the edits changed only their `config` (classes, dependencies, graph and
    declared payloads stay; their configs' `_target_`s are checked again). None otherwise."""
    changed = snapshot.changed_since
    if changed is None or changed[0] != current.digest:
        return None
    names = [unit[1] for unit in changed[1] if len(unit) == 2]
    before, after = current.data.get("components") or {}, snapshot.data.get("components") or {}
    for name in names:
        old, new = before.get(name), after.get(name)
        if not isinstance(old, Mapping) or not isinstance(new, Mapping) or new.get("payloads") or new.get("requires"):
            return None  # added, removed, or declaring payloads whose origins may have moved
        if {k: v for k, v in old.items() if k != "config"} != {k: v for k, v in new.items() if k != "config"}:
            return None
    app = snapshot.section("app")
    registry = Registry.for_app(app)
    specs = dict(assembly.specs)
    problems: list[ConfigError] = []
    for name in names:
        try:
            specs[name] = ComponentSpec.from_entry(name, after[name], app)
        except ConfigError:
            return None  # the full assembly reports it
        if name in assembly.classes:
            where = ("components", name, "config")
            problems.extend(target_problems(specs[name].config, where, registry.locate, snapshot.provenance.where))
    problems.extend(sink_problems(snapshot.section("alerts"), assembly.classes, snapshot.provenance.where))
    problems.extend(fleet_problems(snapshot.section("fleet"), snapshot.provenance.where))
    problems.extend(modules_problems(snapshot.section("modules"), snapshot.provenance.where))
    if problems:
        raise ComponentsError(list(problems))
    return Assembly(specs, assembly.classes, assembly.graph, assembly.payloads)


def _payloads(
    snapshot: Snapshot, specs: Mapping[str, ComponentSpec], classes: Mapping[str, type]
) -> tuple[dict[str, ComponentPayloads], list[ConfigError]]:
    """Each enabled component's declared payloads, and every disagreement among them."""
    payloads: dict[str, ComponentPayloads] = {}
    problems: list[ConfigError] = []
    for name, cls in classes.items():
        entry = snapshot.data["components"][name]

        def where(kind: str, topic: str, name: str = name) -> str:
            return f"components.{name}.{kind}.{topic} [{_origin(snapshot, ('components', name, kind, topic))}]"

        try:
            payloads[name] = component_payloads(name, cls, entry, where)
        except (TypeError, ValueError) as exc:  # a malformed declaration: a schema, a topic, a version
            problems.append(PayloadDeclarationError(f"components.{name}: {exc}"))
    problems.extend(PayloadMismatchError(text) for text in compatibility_problems(payloads))
    return payloads, problems


def _origin(snapshot: Snapshot, prefix: tuple[str, ...]) -> str:
    """Where a mapping was written: the origin of its first leaf with one."""
    for path in snapshot.provenance.paths():
        if path[: len(prefix)] == prefix:
            return snapshot.provenance.where(path)
    return "origin unknown"
