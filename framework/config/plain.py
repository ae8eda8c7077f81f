"""Plain data: deep copies of nested mappings and sequences, their leaves, their depth.

One helper for every place that hands data on (to Cerberus, which fills defaults in place; out
of a FrozenDict snapshot; out of a memo), several times faster than ``copy.deepcopy``; one way
to walk a nested mapping down to its leaves; and the nesting limit every source of values
(file, env var, argument) is held to before OmegaConf, which recurses about ten frames per
level, runs out of stack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from framework.types import KeyPath

MAX_DEPTH = 32  # levels of mappings and lists one value may nest; OmegaConf fails near 70
TOO_DEEP = f"mappings and lists nest more than {MAX_DEPTH} levels"


def thaw(value: Any) -> Any:
    """A deep copy in plain dicts and lists (frozen mappings and tuples included)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def leaves(value: Any, prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """(path, value) of every leaf: scalars, lists and empty mappings."""
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            yield from leaves(child, (*prefix, str(key)))
    elif prefix:
        yield prefix, value


def dotted_keys(value: Any) -> list[str]:
    """Every key of a nested mapping, leaves and the mappings above them, as dotted strings."""
    keys = (".".join(path[:depth]) for path, _ in leaves(value) for depth in range(1, len(path) + 1))
    return list(dict.fromkeys(keys))


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether mappings and lists nest more than ``limit`` levels in ``value``; a value that
    contains itself (a YAML alias cycle) does. Iterative: any depth is measured safely."""
    stack = [(value, 0)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else None
        if children is None:
            continue
        if level >= limit:
            return True
        stack.extend((child, level + 1) for child in children if isinstance(child, Mapping | list))
    return False


def is_unresolved(value: Any) -> bool:
    """Whether OmegaConf would resolve this value: an interpolation (escaped too) or ``???``."""
    return isinstance(value, str) and ("${" in value or value == "???")


def holds_interpolation(node: Any) -> bool:
    """Whether OmegaConf would have anything to resolve in these plain values, anywhere."""
    if isinstance(node, dict):
        return any(holds_interpolation(v) for v in node.values())
    if isinstance(node, list):
        return any(holds_interpolation(v) for v in node)
    return is_unresolved(node)
