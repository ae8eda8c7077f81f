"""The framework's own section schemas: valid per Cerberus, even though start-up trusts them."""

from __future__ import annotations

import cerberus
import pytest

from framework.assembly import framework_sections
from framework.config.schema import Validator, trust
from framework.config.sections import COMPONENT_ENTRY_SCHEMA

SCHEMAS = {**framework_sections(), "components.<name>": COMPONENT_ENTRY_SCHEMA}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_trusted_schema_passes_cerberus_own_check(name: str) -> None:
    """`trust` skips Cerberus's schema check at start-up; this is where that check still runs."""
    Validator.clear_caches()
    try:
        Validator(SCHEMAS[name])  # raises SchemaError for a malformed schema
        assert Validator._valid_schemas, "Cerberus no longer caches valid schemas: trust() is a no-op"
    finally:
        Validator.clear_caches()
        framework_sections.cache_clear()  # the next caller trusts them again


def test_cerberus_rejects_a_malformed_schema_once_its_cache_is_cleared() -> None:
    """The check above can fail: a schema with an unknown rule is refused."""
    Validator.clear_caches()
    with pytest.raises(cerberus.SchemaError):
        Validator({"port": {"type": "integer", "maxx": 5}})


def test_trust_makes_cerberus_skip_the_schema_check() -> None:
    """What start-up relies on: a trusted schema is not checked again (so it must be valid)."""
    Validator.clear_caches()
    try:
        malformed = {"port": {"type": "integer", "maxx": 5}}
        trust(malformed)
        Validator(malformed)  # no SchemaError: Cerberus took it from its cache of valid schemas
    finally:
        Validator.clear_caches()
        framework_sections.cache_clear()
