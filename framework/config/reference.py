"""The configuration reference: every key a composed app accepts, read from its Cerberus schemas.

`integrate docs` prints it (the way Spring Boot's configuration metadata documents
`application.properties`): per key its type, default, accepted range or values, reload policy,
whether it is secret, and its description. Pure: the schemas are handed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from framework.config.schema import Reload, Schema
from framework.secrets import MASK
from framework.types import KeyPath

# Stands for any name under a mapping whose keys are free (event_bus.topics.<name>.key).
ANY_NAME = "<name>"
# Stands for any item of a list of mappings (alerts.routes.<n>.sinks).
ANY_ITEM = "<n>"


@dataclass(frozen=True)
class Section:
    """One table of the reference: a schema and the key path it applies under."""

    title: str
    prefix: KeyPath
    schema: Schema


def reference_rows(sections: Iterable[Section]) -> list[dict[str, Any]]:
    """One plain row per key, in section order, then schema order: the JSON form."""
    return [_row(section.title, path, rules, policy) for section in sections
            for path, rules, policy in _walk(section.schema, section.prefix, Reload.LIVE)]


def reference_markdown(sections: Iterable[Section]) -> str:
    """A heading and a table per section."""
    header = "| key | type | default | accepts | reload | secret | description |\n|---|---|---|---|---|---|---|"
    parts = ["# Configuration reference"]
    for section in sections:
        rows = [_row(section.title, path, rules, policy) for path, rules, policy in
                _walk(section.schema, section.prefix, Reload.LIVE)]
        lines = [f"## {_prose(section.title)}", "", header, *(_markdown_line(row) for row in rows)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _walk(schema: Mapping[str, Any], prefix: KeyPath, inherited: Reload) -> Iterator[tuple[KeyPath, Mapping[str, Any], Reload]]:
    """Every key with its rules and reload policy (a key without one takes its parent's, as
    ``reload_policies`` decides), nested dict schemas and free-named mappings included."""
    for key, rules in schema.items():
        if not isinstance(rules, Mapping):
            continue
        path, policy = (*prefix, str(key)), Reload(rules.get("reload", inherited))
        yield path, rules, policy
        nested, values = rules.get("schema"), rules.get("valuesrules")
        if rules.get("type") == "dict" and isinstance(nested, Mapping):
            yield from _walk(nested, path, policy)
        elif isinstance(values, Mapping) and isinstance(values.get("schema"), Mapping):
            yield from _walk(values["schema"], (*path, ANY_NAME), policy)
        elif rules.get("type") == "list" and isinstance(nested, Mapping) and isinstance(nested.get("schema"), Mapping):
            yield from _walk(nested["schema"], (*path, ANY_ITEM), policy)


def _row(section: str, path: KeyPath, rules: Mapping[str, Any], policy: Reload) -> dict[str, Any]:
    secret = bool(rules.get("secret"))
    # Left out when the schema has no default: null would read as "defaults to null".
    default = {"default": MASK if secret else rules["default"]} if "default" in rules else {}  # never a secret's
    return {
        "section": section,
        "key": ".".join(path),
        "type": type_name(rules),
        **default,
        "required": bool(rules.get("required")),
        "min": rules.get("min"),
        "max": rules.get("max"),
        "min_length": rules.get("minlength"),
        "max_length": rules.get("maxlength"),
        "allowed": list(rules["allowed"]) if "allowed" in rules else None,
        "pattern": rules.get("regex"),
        "reload": policy.value,
        "secret": secret,
        "description": rules.get("description"),
    }


def type_name(rules: Mapping[str, Any]) -> str:
    """`integer`, `string | integer`, `list[string]`, `number | null`: the type as a reader says it."""
    kinds = rules.get("type", "any")
    names = [str(k) for k in (kinds if isinstance(kinds, list | tuple) else [kinds])]
    items = rules.get("schema")
    if names == ["list"] and isinstance(items, Mapping) and isinstance(items.get("type"), str):
        names = [f"list[{items['type']}]"]
    if rules.get("nullable"):
        names.append("null")
    return " | ".join(names)


def _accepts(row: Mapping[str, Any]) -> str:
    """What values pass, besides the type: a range, a set, a pattern, a length."""
    parts = []
    low, high = row["min"], row["max"]
    if low is not None or high is not None:
        parts.append(f"{low}..{high}" if low is not None and high is not None else
                     f">= {low}" if low is not None else f"<= {high}")
    if row["allowed"] is not None:
        parts.append("one of " + ", ".join(map(str, row["allowed"])))
    if row["pattern"] is not None:
        parts.append(f"pattern `{row['pattern']}`")
    if row["min_length"] is not None:
        parts.append(f"length >= {row['min_length']}")
    if row["max_length"] is not None:
        parts.append(f"length <= {row['max_length']}")
    return "; ".join(parts)


def _markdown_line(row: Mapping[str, Any]) -> str:
    default = _shown(row["default"]) if "default" in row else ""
    cells = [
        f"`{row['key']}`",
        row["type"] + (" (required)" if row["required"] else ""),
        default,
        _accepts(row),
        row["reload"],
        "yes" if row["secret"] else "",
        _prose(row["description"] or ""),
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _shown(value: Any) -> str:
    return value if value == MASK else f"`{json.dumps(value, default=str)}`"


def _prose(text: str) -> str:
    """Text outside code: `<PREFIX>` would be read as an HTML tag and vanish."""
    return text.replace("<", "\\<")


def _cell(text: str) -> str:
    """Table cell text: a pipe would end the cell, a newline the row."""
    return text.replace("|", "\\|").replace("\n", " ")
