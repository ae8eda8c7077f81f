"""Cerberus schemas: our extra rules, error flattening, and per-key metadata.

A schema is a plain Cerberus dict. Two rules of ours ride along in it:
``secret: True`` masks the value wherever it could be shown, and
``reload: live | restart | never`` says how a running app takes a change of that key.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any

import cerberus
import cerberus.errors
import cerberus.schema

from framework.config.plain import thaw
from framework.types import KeyPath

Schema = dict[str, Any]


class Reload(StrEnum):
    """How a running app takes a change of one key."""

    LIVE = "live"  # the component's change callback receives it
    RESTART = "restart"  # the component is stopped and rebuilt
    NEVER = "never"  # only a process restart applies it; a reload is rejected


class Validator(cerberus.Validator):  # type: ignore[misc]
    """Cerberus with our metadata rules; one instance per call (Validators are not thread-safe)."""

    def _validate_secret(self, constraint: bool, field: str, value: Any) -> None:
        """{'type': 'boolean'}"""

    def _validate_reload(self, constraint: str, field: str, value: Any) -> None:
        """{'type': 'string', 'allowed': ['live', 'restart', 'never']}"""

    def _validate_description(self, constraint: str, field: str, value: Any) -> None:
        """{'type': 'string'}"""

    def _normalize_coerce_upper(self, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def _error(self, *args: Any) -> None:
        """Record errors in time that grows with their number, not its square.

        Cerberus re-sorts its whole error list, and the schema error tree's node holding them,
        each time it records one error: 10,000 unknown keys in one section took 157 s. Here each
        error is inserted in its sorted place (a binary search), so the list stays as Cerberus
        keeps it; the schema error tree is built only when read (nothing in a validation reads
        it). Every error is still recorded, so every rule sees what it saw before.
        """
        if len(args) != 1:  # an error to build from its parts: Cerberus builds it, then calls this
            super()._error(*args)
            return
        self._record(args[0])

    def _record(self, errors: Iterable[Any]) -> None:
        for error in errors:
            bisect.insort(self._errors, error)
            self.document_error_tree.add(error)  # coercion and dependency rules read it
            self.error_handler.emit(error)

    @property
    def schema_error_tree(self) -> cerberus.errors.SchemaErrorTree:
        """The errors by schema path, built from the recorded errors when asked for."""
        return cerberus.errors.SchemaErrorTree(self._errors)

    @schema_error_tree.setter
    def schema_error_tree(self, tree: cerberus.errors.SchemaErrorTree) -> None:
        """Cerberus sets an empty tree as each validation begins; it is built from the errors."""

    def _check_with_header_value(self, field: str, value: Any) -> None:
        """A string an HTTP client can send in a header (a bearer token): no control characters
        (a header cannot hold them), no space at either end (servers strip it)."""
        if not isinstance(value, str):
            return
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            self._error(field, "holds a control character (a tab, a newline...), which no HTTP header can carry")
        elif value != value.strip(" "):
            self._error(field, "starts or ends with a space, which HTTP servers strip from a header")


class _PlainCopySchema(cerberus.schema.DefinitionSchema):  # type: ignore[misc]
    """A root schema, checked once when built, whose copy is a plain dict.

    Cerberus copies the root schema at every normalization and assigns each rule set back into
    the copy, re-expanding and re-hashing it to look it up in its cache of valid schemas: half
    the time of normalizing a component entry, to re-check rules it checked when this was built.
    Nested schemas are plain dicts in Cerberus already.
    """

    def copy(self) -> dict[str, Any]:
        return dict(self.schema)


def trust(schema: Schema) -> Schema:
    """Mark a schema shipped with the framework as valid in Cerberus's own cache of valid schemas.

    Cerberus checks a schema's rules against its schema-of-schemas in every new process: more
    than half the cost of validating the framework's sections at start-up. Ours never change at
    run time, and tests/config/test_sections.py checks each of them with that cache cleared.
    The key is Cerberus's (its expanded schema, hashed); nested rule sets need none, since a
    root copies as a plain dict (``_PlainCopySchema``). User schemas are always checked.
    """
    from cerberus.utils import mapping_hash

    expanded = cerberus.schema.DefinitionSchema.expand(schema)
    Validator._valid_schemas.add((mapping_hash(expanded), mapping_hash(Validator.types_mapping)))
    return schema


def check_schema(schema: Schema, owner: str) -> None:
    """Fail early, naming the owner, when a schema itself is malformed."""
    try:
        Validator(schema)
    except cerberus.SchemaError as exc:
        raise TypeError(f"{owner} declares an invalid config schema: {exc}") from exc


_local = threading.local()  # a Validator is not thread-safe: one cache per thread


def _validator(schema: Schema) -> Validator:
    """A cached Validator per schema: building one re-checks the schema (milliseconds)."""
    cache: dict[int, tuple[Schema, Validator]] = _local.__dict__.setdefault("validators", {})
    entry = cache.get(id(schema))
    if entry is None or entry[0] is not schema:
        validator = Validator()
        validator.schema = _PlainCopySchema(validator, schema)  # checks it, unless trusted
        entry = cache[id(schema)] = (schema, validator)
    return entry[1]


# Normalizing is a pure function of (schema, document) and Cerberus takes milliseconds per
# section, so results are remembered: a reload re-validates only the sections that changed.
# Failures are not remembered: a rule may look at the file system (logging.file.path), and a
# reload after the user fixed a folder must see the fix.
_MEMO_LIMIT = 4096
_memo: dict[tuple[int, str], tuple[Schema, dict[str, Any], list[Problem]]] = {}


def normalize(
    document: Mapping[str, Any], schema: Schema, *, memo: bool = True
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate and normalize one section; return the normalized copy and every problem.

    ``memo=False`` for documents that rarely repeat (event payloads): nothing is remembered.
    """
    key: tuple[int, str] | None = None
    if memo:
        try:
            key = (id(schema), json.dumps(document, sort_keys=True))
        except (TypeError, ValueError):  # not plain JSON data: no memo
            key = None
    hit = _memo.get(key) if key else None
    if hit is None or hit[0] is not schema:
        validator = _validator(schema)
        validator.validate(dict(document))
        hit = (schema, validator.document, list(_problems(validator._errors, schema)))
        if key and not hit[2]:
            if len(_memo) >= _MEMO_LIMIT:
                _memo.clear()
            _memo[key] = hit
    return thaw(hit[1]), list(hit[2])


class Problem:
    """One validation failure, before its origin is attached.

    ``message`` says what is wrong. ``hint``, when there is one, works out what would be
    accepted: for an unknown key, a search of the known keys for a close match. It runs only
    for a problem that is listed, since one bad file can hold thousands of unknown keys and the
    error lists a screenful.
    """

    __slots__ = ("path", "message", "value", "has_value", "hint")

    def __init__(
        self, path: KeyPath, message: str, value: Any, has_value: bool, hint: Callable[[], str] | None = None
    ) -> None:
        self.path, self.message, self.value, self.has_value = path, message, value, has_value
        self.hint = hint

    @property
    def text(self) -> str:
        """The message with its hint."""
        return self.message + (self.hint() if self.hint else "")


def _problems(errors: Any, schema: Schema) -> Iterator[Problem]:
    for error in errors:
        if error.is_group_error:
            yield from _problems(error.child_errors, schema)
            continue
        path = tuple(str(p) for p in error.document_path)
        if error.code == cerberus.errors.UNKNOWN_FIELD.code:  # a rule method's own errors have no rule either
            hint = functools.partial(_known_keys_hint, schema, path)
            yield Problem(path, "unknown key", error.value, True, hint)
        else:
            yield Problem(path, _message(error), error.value, error.rule != "required")


def _known_keys_hint(schema: Schema, path: KeyPath) -> str:
    """`; did you mean 'x'? (accepted keys: ...)` for an unknown key at ``path``."""
    siblings = _keys_at(schema, path[:-1])
    close = difflib.get_close_matches(path[-1], siblings, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    accepted = f" (accepted keys: {', '.join(sorted(siblings))})" if siblings else ""
    return hint + accepted


def _message(error: Any) -> str:
    rule, constraint = error.rule, error.constraint
    messages: dict[str, Callable[[Any], str]] = {
        "required": lambda c: "required key is missing",
        "type": lambda c: f"must be of type {_or(c)}",
        "min": lambda c: f"must be >= {c}",
        "max": lambda c: f"must be <= {c}",
        "minlength": lambda c: f"must have at least {c} item(s)/character(s)",
        "maxlength": lambda c: f"must have at most {c} item(s)/character(s)",
        "allowed": lambda c: f"must be one of {', '.join(map(str, c))}",
        "regex": lambda c: f"must match the pattern {c}",
        "nullable": lambda c: "must not be null",
        "empty": lambda c: "must not be empty",
        "coerce": lambda c: "cannot be converted to the expected type",
    }
    if rule in messages:
        return messages[rule](constraint)
    return str(error.info[0]) if error.info else f"fails rule '{rule}' ({constraint})"


def _or(types: Any) -> str:
    return " or ".join(types) if isinstance(types, list | tuple) else str(types)


def _keys_at(schema: Schema, path: KeyPath) -> list[str]:
    node: Any = schema
    for part in path:
        rule = node.get(part) if isinstance(node, Mapping) else None
        if not isinstance(rule, Mapping) or not isinstance(rule.get("schema"), Mapping):
            return []
        node = rule["schema"]
    return list(node) if isinstance(node, Mapping) else []


def walk_rules(schema: Schema, prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, Mapping[str, Any]]]:
    """Every (key path, rules) pair of a schema, nested dict schemas included.

    The keys of a list's dict items sit under the list's own path (``alerts.webhooks.url``), as
    ``framework.secrets.mask`` reads them: a list item has no key of its own.
    """
    for key, rules in schema.items():
        if not isinstance(rules, Mapping):
            continue
        path = (*prefix, key)
        yield path, rules
        nested = rules.get("schema")
        if rules.get("type") == "list" and isinstance(nested, Mapping) and nested.get("type") == "dict":
            nested = nested.get("schema")
        elif rules.get("type") != "dict":
            continue
        if isinstance(nested, Mapping):
            yield from walk_rules(dict(nested), path)


def secret_paths(schema: Schema, prefix: KeyPath = ()) -> set[KeyPath]:
    """Key paths a schema marks secret."""
    return {path for path, rules in walk_rules(schema, prefix) if rules.get("secret")}


def descriptions(schema: Schema, prefix: KeyPath = ()) -> dict[KeyPath, str]:
    """Key paths with the ``description`` their rules give; keys without one are left out."""
    return {path: str(rules["description"]) for path, rules in walk_rules(schema, prefix) if rules.get("description")}


def reload_policies(schema: Schema, prefix: KeyPath, default: Reload) -> dict[KeyPath, Reload]:
    """Key paths with their reload policy; a key inherits its nearest ancestor's."""
    policies: dict[KeyPath, Reload] = {}
    for path, rules in walk_rules(schema, prefix):
        inherited = policies.get(path[:-1], default)
        policies[path] = Reload(rules["reload"]) if "reload" in rules else inherited
    return policies
