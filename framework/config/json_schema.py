"""JSON Schemas (draft 2020-12) of a config dir's YAML files, converted from the Cerberus schemas.

Editors (through the YAML language server) and CI check a file against them before the app
reads it. Three facts of Hydra shape the conversion:

- a file is one layer of a merge, so no key is required in it (`integrate check` enforces
  ``required`` on the composed result);
- a value may be an interpolation (``${oc.env:PORT}`` where a number belongs) or ``???`` (to be
  supplied later): Hydra resolves it before Cerberus sees it, so every key, list item and
  section accepts such a string (``if`` it is one, fine; ``else`` the key's own schema applies);
- a file lands at its package (``# @package components.analyzer``, else its group's path), so its
  schema is the part of the app's schema found there, plus the ``defaults`` list any file may hold.

Keys a Cerberus schema does not list are refused (``additionalProperties: false``) wherever
Cerberus refuses them; ``allow_unknown`` mappings and top-level keys no section claims stay open.
Custom rules (``check_with``) have no JSON Schema form: `integrate check` runs them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from framework.config.files import read_text
from framework.config.hydra_files import package_header
from framework.config.schema import Schema
from framework.types import KeyPath

DRAFT = "https://json-schema.org/draft/2020-12/schema"

# A string Hydra resolves at composition: an interpolation anywhere in it, or the mandatory `???`.
# Defined once per document and referred to from every key.
DEFINITIONS: dict[str, Any] = {
    "resolved_later": {
        "type": "string",
        "pattern": r"\$\{|^\?\?\?$",
        "description": "an interpolation (${...}) or ??? (mandatory): Hydra resolves it when it composes the config",
    }
}
RESOLVED_LATER: dict[str, Any] = {"$ref": "#/$defs/resolved_later"}

DEFAULTS_LIST: dict[str, Any] = {
    "type": "array",
    "description": "Hydra defaults list: the files merged into this one, in order",
}

_JSON_TYPES = {
    "string": "string", "integer": "integer", "number": "number", "float": "number",
    "boolean": "boolean", "dict": "object", "list": "array", "set": "array",
    "date": "string", "datetime": "string",
}


def property_schema(rules: Mapping[str, Any]) -> dict[str, Any]:
    """One key: a string Hydra resolves later, else a value of its schema. ``if``/``else`` rather
    than ``anyOf``: both accept the same values, but a validator explains an ``anyOf`` failure as
    "not valid under any of the given schemas" (or blames the interpolation pattern), where
    ``else`` names what the key expects ("'x' is not of type 'integer'"). The description and
    the default sit outside, where editors look for them; a secret's default is left out."""
    outer: dict[str, Any] = {}
    if rules.get("description"):
        outer["description"] = str(rules["description"])
    if "default" in rules and not rules.get("secret"):
        outer["default"] = rules["default"]
    return {**outer, "if": RESOLVED_LATER, "else": value_schema(rules)}


def object_schema(schema: Mapping[str, Any], open_to_unknown: bool = False) -> dict[str, Any]:
    """A Cerberus mapping schema: its keys, and no others unless it allows unknown ones."""
    properties = {str(key): property_schema(rules) for key, rules in schema.items() if isinstance(rules, Mapping)}
    return {"properties": properties, "additionalProperties": open_to_unknown}


def value_schema(rules: Mapping[str, Any]) -> dict[str, Any]:
    """What Cerberus accepts for one key, as JSON Schema keywords (each applies to its own type)."""
    types = _types(rules)
    result: dict[str, Any] = {"type": types[0] if len(types) == 1 else types} if types else {}
    result.update(_bounds(rules))
    result.update(_choices(rules, types))
    contents = _contents(rules)
    if "items" in result and "items" in contents:  # a list with allowed values and an item schema
        contents["items"] = {"allOf": [result.pop("items"), contents["items"]]}
    result.update(contents)
    return result


def _types(rules: Mapping[str, Any]) -> list[str]:
    """JSON types of a Cerberus ``type`` (none: any type, as for a custom Cerberus type)."""
    kinds = rules.get("type")
    if kinds is None:
        return []
    names = [_JSON_TYPES.get(str(k)) for k in (kinds if isinstance(kinds, list | tuple) else [kinds])]
    if None in names:
        return []
    types = list(dict.fromkeys(n for n in names if n))
    return [*types, "null"] if rules.get("nullable") else types


def _bounds(rules: Mapping[str, Any]) -> dict[str, Any]:
    """min/max on numbers; minlength/maxlength/empty on strings, lists and mappings alike."""
    found: dict[str, Any] = {}
    if "min" in rules:
        found["minimum"] = rules["min"]
    if "max" in rules:
        found["maximum"] = rules["max"]
    sized = {"string": ("minLength", "maxLength"), "array": ("minItems", "maxItems"), "object": ("minProperties", None)}
    least = max(rules.get("minlength", 0), 0 if rules.get("empty", True) else 1)
    for kind in _types(rules) or list(sized):  # each keyword applies to its own type only
        low, high = sized.get(kind, (None, None))
        if low and least:
            found[low] = least
        if high and "maxlength" in rules:
            found[high] = rules["maxlength"]
    return found


def _choices(rules: Mapping[str, Any], types: list[str]) -> dict[str, Any]:
    """``allowed`` as an enum (of a list's items, for a list) and ``regex`` as an anchored pattern
    (Cerberus matches the whole string; JSON Schema searches)."""
    found: dict[str, Any] = {}
    patterns = [f"^(?:{rules['regex']})$"] if "regex" in rules else []
    allowed = rules.get("allowed")
    if allowed is not None and rules.get("coerce") == "upper":  # Cerberus upper-cases first
        patterns.append("^(?:" + "|".join(_any_case(str(a)) for a in allowed) + ")$")
        found["examples"] = list(allowed)  # what editors offer to complete
    elif allowed is not None and types[:1] == ["array"]:
        found["items"] = {"if": RESOLVED_LATER, "else": {"enum": list(allowed)}}
    elif allowed is not None:
        found["enum"] = [*allowed, *([None] if rules.get("nullable") else [])]
    if len(patterns) == 1:
        found["pattern"] = patterns[0]
    elif patterns:  # one keyword holds one pattern
        found["allOf"] = [{"pattern": pattern} for pattern in patterns]
    return found


def _any_case(word: str) -> str:
    """A pattern matching ``word`` in any letter case (JSON Schema patterns take no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else _escaped(c) for c in word)


def _escaped(char: str) -> str:
    return "\\" + char if char in r"\^$.|?*+()[]{}/" else char


def _contents(rules: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping's keys (``schema``, ``keysrules``, ``valuesrules``) or a list's items (``schema``)."""
    nested, kind = rules.get("schema"), rules.get("type")
    if kind == "list" and isinstance(nested, Mapping):
        return {"items": property_schema(nested)}
    found: dict[str, Any] = {}
    if kind == "dict" and isinstance(nested, Mapping):
        found.update(object_schema(nested, bool(rules.get("allow_unknown"))))
    if isinstance(rules.get("keysrules"), Mapping):
        found["propertyNames"] = value_schema({**rules["keysrules"], "type": "string"})
    if isinstance(rules.get("valuesrules"), Mapping):
        found["additionalProperties"] = property_schema(rules["valuesrules"])
    return found


_NESTED = ("schema", "keysrules", "valuesrules")


def data_schema(schema: Mapping[str, Any], open_to_unknown: bool = False) -> dict[str, Any]:
    """A Cerberus mapping schema as plain JSON Schema, for data that is never composed by Hydra
    (event payloads): no interpolation allowance, and ``required`` (which a config file never
    needs, being one layer of a merge) listed."""
    properties = {str(key): _data_value(rules) for key, rules in schema.items() if isinstance(rules, Mapping)}
    required = [str(key) for key, rules in schema.items() if isinstance(rules, Mapping) and rules.get("required")]
    found: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": open_to_unknown}
    return {**found, "required": required} if required else found


def _data_value(rules: Mapping[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in rules.items() if k not in _NESTED}
    if isinstance(flat.get("allowed"), list | tuple) and _types(flat)[:1] == ["array"]:
        flat.pop("allowed")  # its JSON form refers to the interpolation definition
    result = value_schema(flat)
    if rules.get("description"):
        result["description"] = str(rules["description"])
    if "default" in rules and not rules.get("secret"):
        result["default"] = rules["default"]
    nested = rules.get("schema")
    if rules.get("type") == "dict" and isinstance(nested, Mapping):
        result.update(data_schema(nested, bool(rules.get("allow_unknown"))))
    elif rules.get("type") == "list" and isinstance(nested, Mapping):
        result["items"] = _data_value(nested)
    if isinstance(rules.get("valuesrules"), Mapping):
        result["additionalProperties"] = _data_value(rules["valuesrules"])
    return result


def app_schema(
    sections: Mapping[str, Schema],
    entry: Schema,
    components: Mapping[str, Schema | None],
    component_name: str,
) -> dict[str, Any]:
    """The whole app's schema: each framework section, each component entry with its class's
    ``config`` schema (an unknown component: any ``config``), and open for other top-level keys."""
    properties = {name: property_schema({"type": "dict", "nullable": True, "schema": schema})
                  for name, schema in sections.items()}
    listed = {name: _entry_rules(entry, schema) for name, schema in components.items()}
    properties["components"] = property_schema({
        "type": "dict",
        "nullable": True,
        "schema": listed,
        "keysrules": {"regex": component_name.strip("^$")},
        "valuesrules": _entry_rules(entry, None),
        "description": "the components, by name",
    })
    properties["defaults"] = DEFAULTS_LIST
    return {"$schema": DRAFT, "type": "object", "properties": properties, "additionalProperties": True,
            "$defs": DEFINITIONS}


def _entry_rules(entry: Schema, config: Schema | None) -> dict[str, Any]:
    """A component entry's rules: the entry schema, whose ``config`` is the class's schema."""
    config_rules = {"type": "dict", "default": {}, "allow_unknown": True, "description": "the component's settings"}
    if config is not None:
        config_rules = {"type": "dict", "default": {}, "schema": config}
    return {"type": "dict", "nullable": True, "schema": {**entry, "config": config_rules}}


def file_schema(app: Mapping[str, Any], package: KeyPath, title: str) -> dict[str, Any] | None:
    """The schema of a file whose keys land at ``package`` of the app; None when no schema covers it."""
    node: Mapping[str, Any] = app
    for part in package:
        node = _value_of(node)
        properties, others = node.get("properties", {}), node.get("additionalProperties")
        if part in properties:
            node = properties[part]
        elif isinstance(others, Mapping):
            node = others
        else:
            return None  # a part of the tree no schema describes
    body = {k: v for k, v in _value_of(node).items() if k not in ("$schema", "$defs")}
    body["properties"] = {**body.get("properties", {}), "defaults": DEFAULTS_LIST}
    return {"$schema": DRAFT, "title": title, **body, "$defs": DEFINITIONS}


def _value_of(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """A key's own schema, without the alternative of a string Hydra resolves later."""
    own = node.get("else")
    return own if isinstance(own, Mapping) else node


def config_files(config_dir: Path) -> Iterator[Path]:
    """Every YAML file of a config dir, in a stable order, as paths relative to it."""
    found = [*config_dir.rglob("*.yaml"), *config_dir.rglob("*.yml")]
    yield from sorted(path.relative_to(config_dir) for path in found if path.is_file())


def package_of(relative: Path, text: str) -> KeyPath:
    """Where a file's keys land: its ``# @package`` header, else (as Hydra does) its group's
    path; the primary config and other files at the top are global."""
    group = ".".join(relative.parent.parts)
    declared = package_header(text) or ("_group_" if group else "_global_")
    package = declared.replace("_group_", group).replace("_name_", relative.stem)
    parts = [part for part in package.split(".") if part]
    return tuple(parts[1:] if parts[:1] == ["_global_"] else parts)


def write_schemas(config_dir: Path, out: Path, app: Mapping[str, Any], limit: int) -> list[tuple[Path, Path | None]]:
    """Write one schema per YAML file of ``config_dir`` under ``out`` (mirroring its folders:
    components/analyzer.yaml -> components/analyzer.schema.json); return each file with its
    schema, None for a file at a package no schema describes. ``limit``: largest file read."""
    written: list[tuple[Path, Path | None]] = []
    for relative in config_files(config_dir):
        package = package_of(relative, read_text(config_dir / relative, limit))
        schema = file_schema(app, package, f"{relative.as_posix()} (keys at {'.'.join(package) or 'the top'})")
        target = out / relative.parent / f"{relative.stem}.schema.json" if schema is not None else None
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        written.append((config_dir / relative, target))
    return written


def modeline(yaml_file: Path, schema_file: Path) -> str:
    """The comment that points the YAML language server at a schema, relative to the file."""
    relative = os.path.relpath(schema_file.resolve(), yaml_file.resolve().parent)
    return f"# yaml-language-server: $schema={Path(relative).as_posix()}"
