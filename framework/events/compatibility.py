"""Do the publishers of a topic provide what its subscribers require? Checked before start.

Every declaration is compared as JSON Schema, whatever it was written in. A subscriber's
requirement for a topic pattern holds against each publisher declaring a topic the pattern can
match (wildcards on either side) when every field it requires is always there (required, or
given a default) and of a type it accepts (an integer is a number), nested objects included.
A publisher at an older schema version than the requirement needs the subscriber's upcasters
from that version on; their output is code, so the fields are then taken on trust.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from framework.events.payloads import ComponentPayloads, Declared
from framework.events.topics import overlaps

_MAX_DEPTH = 16  # payloads nest far less; a recursive schema stops here


def compatibility_problems(payloads: Mapping[str, ComponentPayloads]) -> list[str]:
    """Every disagreement between a subscriber's requirement and a publisher's declaration."""
    problems: list[str] = []
    for subscriber in payloads.values():
        for pattern, required in subscriber.requires.by_pattern.items():
            for publisher in payloads.values():
                for topic, provided in publisher.publishes.by_pattern.items():
                    if overlaps(pattern, topic):
                        problems.extend(_disagreements(required, provided))
    return problems


def _disagreements(required: Declared, provided: Declared) -> Iterator[str]:
    who = (
        f"'{required.owner}' requires of '{required.topic}' (declared in {required.origin}) what "
        f"'{provided.owner}' does not publish on '{provided.topic}' (payload v{provided.version}, "
        f"declared in {provided.origin})"
    )
    if provided.version < required.version:
        missing = [v for v in range(provided.version, required.version) if v not in required.upcast]
        if missing:
            yield (f"{who}: schema version {provided.version}, while '{required.owner}' requires version "
                   f"{required.version} and has no upcaster from version {missing[0]}")
        return
    needed, given = required.json_schema, provided.json_schema
    for field, text in _object_problems(
        _resolved(needed, needed), _resolved(given, given), needed, given, (), required.owner
    ):
        yield f"{who}: field '{field}' {text}"


def _object_problems(
    needed: Mapping[str, Any],
    given: Mapping[str, Any],
    needed_doc: Mapping[str, Any],
    given_doc: Mapping[str, Any],
    path: tuple[str, ...],
    owner: str,
) -> Iterator[tuple[str, str]]:
    if len(path) > _MAX_DEPTH:
        return
    wanted, offered = needed.get("properties") or {}, given.get("properties") or {}
    always = set(given.get("required") or ())
    for name, rules in wanted.items():
        here = (*path, name)
        field = ".".join(here)
        rules = _resolved(rules, needed_doc)
        if name not in offered:
            if name in (needed.get("required") or ()):
                yield field, f"is required by '{owner}' and not in the payload at all"
            continue
        theirs = _resolved(offered[name], given_doc)
        if name in (needed.get("required") or ()) and name not in always and "default" not in theirs:
            yield field, f"is required by '{owner}' and optional in the payload"
        accepted, sent = json_types(rules, needed_doc), json_types(theirs, given_doc)
        if accepted is not None and sent is not None and not sent <= _widened(accepted):
            yield field, f"is {_or(sent)} in the payload, '{owner}' requires {_or(accepted)}"
        elif accepted == {"object"} and sent == {"object"}:
            yield from _object_problems(rules, theirs, needed_doc, given_doc, here, owner)


def _resolved(schema: Mapping[str, Any], document: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema with a local ``$ref`` (Pydantic puts nested models in ``$defs``) followed."""
    for _ in range(_MAX_DEPTH):
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return schema
        target: Any = document
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        schema = target
    return schema


def json_types(schema: Mapping[str, Any], document: Mapping[str, Any]) -> set[str] | None:
    """The JSON types a schema admits; None when it admits any (or says nothing we can read)."""
    schema = _resolved(schema, document)
    kinds = schema.get("type")
    if isinstance(kinds, str):
        return {kinds}
    if isinstance(kinds, list):
        return {str(k) for k in kinds}
    for union in ("anyOf", "oneOf"):
        if isinstance(schema.get(union), list):
            found: set[str] = set()
            for option in schema[union]:
                types = json_types(option, document)
                if types is None:
                    return None
                found |= types
            return found
    values = schema["enum"] if isinstance(schema.get("enum"), list) else [schema["const"]] if "const" in schema else None
    return {_json_type(v) for v in values} if values else None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    kinds = {int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    return next((name for kind, name in kinds.items() if isinstance(value, kind)), "string")


def _widened(types: set[str]) -> set[str]:
    return types | {"integer"} if "number" in types else types


def _or(types: set[str]) -> str:
    return " or ".join(sorted(types))
