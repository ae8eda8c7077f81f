"""How many elements an override hands Hydra's parser, counted before Hydra parses it.

Hydra's override parser is super-linear in the elements of a list or mapping: measured on a
2-core machine, `a=[0,...,N]` parses in 0.25 s at N=1000, 1.3 s at 3000 and 12.6 s at 10,000,
and one composition parses every override several times (syntax and group checks, the
compose with and without env, provenance), on every reload too: a 10,000-item env var or
argument made `integrate check` take 50 s, 30,000 items several minutes. At 1000 elements an
override adds about 0.7 s to a check (0.6 s without it). Env values and arguments are held to that, counted in
one linear pass; long lists belong in a YAML file, which PyYAML reads in linear time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_ELEMENTS = 1000  # list items and mapping entries in one override, all levels together
TOO_MANY = (
    f"more than {MAX_ELEMENTS} list items and mapping entries in one value (Hydra's override"
    " parser slows down sharply past that); put long lists in a YAML file of the config instead"
)


def elements_in_value(value: Any) -> int:
    """List items and mapping entries in a parsed value, all levels (a value that repeats
    a part through YAML aliases counts each repeat); counting stops past MAX_ELEMENTS."""
    count, stack = 0, [value]
    while stack and count <= MAX_ELEMENTS:
        node = stack.pop()
        children = list(node.values()) if isinstance(node, Mapping) else node if isinstance(node, list) else []
        count += len(children)
        stack.extend(children)
    return count


# The characters that matter to the count: separators, quotes and the escape inside quotes.
_SIGNIFICANT = re.compile(r"[,\[{'\"\\]")


def elements_in_text(text: str) -> int:
    """`,`, `[` and `{` outside quoted strings in an override as typed: at least as many as
    its list items and mapping entries (a sweep `a=1,2,3`: its options less one). Quotes are `'...'` and `"..."`,
    where a backslash escapes the next character; one pass over the text."""
    count, quote, escaped_at = 0, "", -1
    for match in _SIGNIFICANT.finditer(text):
        char, start = match.group(), match.start()
        if quote:
            if start == escaped_at:
                continue  # this character is escaped
            if char == "\\":
                escaped_at = start + 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char != "\\":
            count += 1
    return count
