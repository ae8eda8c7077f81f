"""Our Cerberus Validator records errors in linear time, and records exactly what Cerberus would."""

from __future__ import annotations

from typing import Any

import cerberus
import pytest

from framework.config.schema import Validator
from framework.config.sections import APP_SCHEMA
from framework.events.settings import EVENT_BUS_SCHEMA


class CerberusRecording(Validator):
    """Our rules with Cerberus's own error recording: the sort per error, the eager schema tree."""

    _error = cerberus.Validator._error
    schema_error_tree = None  # a plain attribute again, set by Cerberus


def _tree(node: Any) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """An error tree as comparable data: each node's errors, its children by key."""
    errors = [(e.document_path, e.schema_path, e.code, repr(e.value)) for e in node.errors]
    return errors, {repr(key): _tree(child) for key, child in node.descendants.items()}


RULES = {
    "a": {"anyof": [{"type": "integer"}, {"type": "string", "regex": "^x"}]},
    "b": {"coerce": [int, str], "type": "string"},
    "c": {"type": "dict", "valuesrules": {"type": "integer"}, "keysrules": {"regex": "^k"}},
    "d": {"required": True},
    "e": {"type": "list", "items": [{"type": "integer"}, {"type": "string"}]},
    "f": {"oneof": [{"min": 0}, {"max": 10}]},
}
CASES = [
    (
        APP_SCHEMA,
        {
            "zz": 1,
            "name": 3,
            "start_timeout": -1,
            "watch": {"step_ms": "x", "bogus": 1, "aaa": 2},
            "allowed_packages": [1, "a", 2.0],
            "aa": 2,
        },
    ),
    (EVENT_BUS_SCHEMA, {"backend": "kafka", "queue_size": 0, "redis": {"maxlen": "x", "q": 1}, "b": 1}),
    (RULES, {"zz": 0, "a": "yz", "b": "q", "c": {"k1": "x", "z": 1}, "e": ["a", 1], "f": 5, "aa": 1}),
]


@pytest.mark.parametrize(("schema", "document"), CASES, ids=["app", "event_bus", "logic-and-coercion"])
def test_errors_are_recorded_as_cerberus_records_them(
    schema: dict[str, Any], document: dict[str, Any]
) -> None:
    """Unknown keys, nested and list errors, *of rules and coercion chains: the same verdict,
    the same errors in the same order, the same error trees and the same normalized document."""
    ours, theirs = Validator(schema), CerberusRecording(schema)
    assert ours.validate(document) is theirs.validate(document) is False
    assert [(e.document_path, e.schema_path, e.code) for e in ours._errors] == [
        (e.document_path, e.schema_path, e.code) for e in theirs._errors
    ]
    assert ours.errors == theirs.errors
    assert _tree(ours.document_error_tree) == _tree(theirs.document_error_tree)
    assert _tree(ours.schema_error_tree) == _tree(theirs.schema_error_tree)
    assert ours.document == theirs.document


@pytest.mark.timeout(60)
def test_every_one_of_many_unknown_keys_is_recorded() -> None:
    """50,000 unknown keys are all recorded, sorted as Cerberus sorts them (a test timeout, not
    a clock, fails the quadratic recording this replaced: it needed about an hour)."""
    document = {f"unknown_{i}": i for i in range(50_000)}
    validator = Validator(APP_SCHEMA)
    assert validator.validate(document) is False
    keys = [e.document_path for e in validator._errors]
    assert len(keys) == 50_000 and keys == sorted(keys)
