"""The compatibility check on its own: nested models (Pydantic's $refs), optional fields,
defaults, unions and wildcards on either side, each compared as JSON Schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from framework.events.compatibility import compatibility_problems
from framework.events.payloads import ComponentPayloads, Declarations, Declared


class Venue(BaseModel):
    name: str
    fee: float


class Fill(BaseModel):
    symbol: str
    venue: Venue
    note: str | None = None


class StrictVenue(BaseModel):
    name: str
    fee: int


class NeedsStrictVenue(BaseModel):
    venue: StrictVenue


@dataclass
class MaybeSymbol:
    symbol: str | None


def _problems(published: dict[str, Any], required: dict[str, Any]) -> list[str]:
    def side(owner: str, declared: dict[str, Any], publishes: bool) -> ComponentPayloads:
        compiled = Declarations({t: Declared(t, owner, "test", d) for t, d in declared.items()})
        empty = Declarations({})
        return ComponentPayloads(compiled, empty) if publishes else ComponentPayloads(empty, compiled)

    return compatibility_problems({"pub": side("pub", published, True), "sub": side("sub", required, False)})


@pytest.mark.parametrize(
    ("published", "required", "expected"),
    [
        ({"t.fill": Fill}, {"t.*": {"venue": {"type": "dict", "schema": {"fee": {"type": "float"}}}}}, None),
        ({"t.fill": Fill}, {"t.fill": NeedsStrictVenue}, "field 'venue.fee' is number in the payload, 'sub' requires integer"),
        ({"t.fill": {"note": {"type": "string"}}}, {"t.fill": {"note": {"type": "string", "required": True}}}, "field 'note' is required by 'sub' and optional"),
        ({"t.fill": Fill}, {"t.fill": {"note": {"type": "string"}}}, "field 'note' is null or string in the payload"),
        ({"t.fill": {"note": {"type": "string", "default": "-"}}}, {"t.fill": {"note": {"type": "string", "required": True}}}, None),
        ({"t.fill": MaybeSymbol}, {"t.fill": {"symbol": {"type": "string"}}}, "field 'symbol' is null or string in the payload"),
        ({"t.fill": MaybeSymbol}, {"t.fill": {"symbol": {"type": "string", "nullable": True}}}, None),
        ({"t.*": Fill}, {"**": {"price": {"type": "number", "required": True}}}, "field 'price' is required"),
        ({"u.fill": Fill}, {"t.*": {"price": {"type": "number", "required": True}}}, None),  # topics never meet
    ],
)
def test_compatibility(published: dict[str, Any], required: dict[str, Any], expected: str | None) -> None:
    problems = _problems(published, required)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0], problems
