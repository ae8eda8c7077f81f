"""The element counts that hold overrides to MAX_ELEMENTS before Hydra parses them."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from framework.config.override_size import MAX_ELEMENTS, elements_in_text, elements_in_value


@pytest.mark.parametrize(
    "text",
    [
        "a=1",
        "a=[1,2,3]",
        "a={x:1,y:[2,3]}",
        "a=[[1,2],[3],{b:[4,{c:5}]}]",
        "a=['x,y',\"[z]\",'it\\'s, {']",
        "a=['a\\\\',b,c]",  # an escaped backslash before the closing quote
        "a=[]",
    ],
)
def test_the_text_count_is_at_least_what_hydra_parses(text: str) -> None:
    """Counting `,` `[` `{` outside quotes never says less than the items and entries Hydra
    finds (so a value under the limit costs Hydra at most that many)."""
    value = OverridesParser.create().parse_override(text).value()
    assert elements_in_text(text) >= elements_in_value(value)


@pytest.mark.parametrize(
    ("text", "count"),
    [("a='" + "x," * 5000 + "'", 0), ('a="' + "[{," * 5000 + '"', 0), ("a='it\\'s,',b", 1), ("a='\\\\',b", 1)],
)
def test_separators_inside_quotes_are_text(text: str, count: int) -> None:
    """Commas and brackets in a quoted string are not items, however many; a backslash escapes
    the next character there, so `\\'` stays inside and `\\\\'` ends the string."""
    assert elements_in_text(text) == count


def test_the_value_count_adds_every_level_and_repeat() -> None:
    """Items and entries at every level count, a part repeated by an alias each time, and
    counting stops soon past the limit, whatever the size."""
    part = list(range(10))
    assert elements_in_value({"a": [part, part], "b": 1}) == 2 + 2 + 20
    assert elements_in_value("x,y,z") == 0
    huge = [[list(range(1000))] * 1000] * 1000  # a billion items, shared
    assert MAX_ELEMENTS < elements_in_value(huge) <= 2 * MAX_ELEMENTS + 1000
