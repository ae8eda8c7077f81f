"""An installation's config checked against its module's ``config_schema`` (JSON Schema).

Messages name each failing key and the rule, never the value: a writeOnly value is a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema

from module_registry.errors import Invalid, Location

_NAMING_KEYS = {"required", "additionalProperties", "dependentRequired", "propertyNames"}


def problems(
    config: Any, schema: dict[str, Any], at: Sequence[str | int] = ("config",)
) -> list[tuple[Location, str, str]]:
    """Every way ``config`` breaks ``schema``: (location, message, rule), sorted by location."""
    validator = jsonschema.Draft202012Validator(schema)
    found: list[tuple[Location, str, str]] = []
    for error in validator.iter_errors(config):
        loc = [*at, *error.absolute_path]
        if error.validator == "required":
            missing = [
                key
                for key in error.validator_value
                if isinstance(error.instance, dict) and key not in error.instance
            ]
            found.extend(([*loc, key], "a required key is missing", "required") for key in missing)
        elif error.validator in _NAMING_KEYS:
            found.append((loc, error.message, str(error.validator)))
        else:
            rule = (
                f"{error.validator}: {error.validator_value!r}"
                if error.validator_value is not None
                else error.validator
            )
            found.append((loc, f"does not satisfy {rule}", str(error.validator)))
    return sorted(found, key=lambda problem: [str(part) for part in problem[0]])


def check(config: Any, schema: dict[str, Any], at: Sequence[str | int] = ("config",)) -> None:
    """Raise ``Invalid`` (422) listing every failing key when ``config`` breaks ``schema``."""
    found = problems(config, schema, at)
    if found:
        raise Invalid(found)
