"""Every schema a composed app is checked against, gathered for the documents made from them:
the reference `integrate docs` prints and the JSON Schemas `integrate schema` writes."""

from __future__ import annotations

from typing import Any

from framework.assembly import component_schema, framework_sections
from framework.config.json_schema import app_schema
from framework.config.reference import ANY_NAME, Section
from framework.config.schema import Schema
from framework.config.sections import COMPONENT_ENTRY_SCHEMA, COMPONENT_NAME
from framework.config.snapshot import Snapshot


def component_schemas(snapshot: Snapshot) -> dict[str, Schema | None]:
    """Each component's config schema by name, sorted; None when its class cannot be resolved."""
    app = snapshot.section("app")
    components = snapshot.section("components")
    return {name: component_schema(name, components[name], app) for name in sorted(components)}


def reference_sections(snapshot: Snapshot) -> list[Section]:
    """The framework sections, the keys of every component entry, then each enabled component's
    config (sorted by name): the tables of the reference."""
    sections = [Section(name, (name,), schema) for name, schema in framework_sections().items()]
    sections.append(Section("components.<name> (every component)", ("components", ANY_NAME), COMPONENT_ENTRY_SCHEMA))
    components = snapshot.section("components")
    for name, schema in component_schemas(snapshot).items():
        if schema is not None and components[name].get("enabled", True):
            title = f"components.{name}.config ({components[name].get('class')})"
            sections.append(Section(title, ("components", name, "config"), schema))
    return sections


def app_json_schema(snapshot: Snapshot) -> dict[str, Any]:
    """The JSON Schema of the whole app, each composed component with its class's config schema."""
    return app_schema(framework_sections(), COMPONENT_ENTRY_SCHEMA, component_schemas(snapshot), COMPONENT_NAME)
