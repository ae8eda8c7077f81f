"""Units of a config tree: what a reload re-merges, re-validates and diffs on its own.

A unit is one component's entry (``components.<name>``) or one other top-level key. Values in
different units never meet when files are merged (a merge works key by key), no schema spans
two of them except the `app` section (each component's schema is found under its rules), so
when an edit leaves a unit's files as they were, its values, origins, validated form, secret
keys and digest are those of the running snapshot and need not be worked out again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framework.config.compose import MergedFile
from framework.types import KeyPath

COMPONENTS = "components"


def unit_of(path: KeyPath) -> KeyPath:
    """The unit a key path lies in (itself, for a unit's own key)."""
    return path[:2] if path[0] == COMPONENTS and len(path) > 1 else path[:1]


def units_in(values: Any) -> set[KeyPath] | None:
    """The units a file's values (placed under its package) set; None when they set
    `components` itself as a whole (an empty mapping, a scalar), which spans every entry."""
    if not isinstance(values, Mapping):
        return None
    found: set[KeyPath] = set()
    for key, value in values.items():
        if key != COMPONENTS:
            found.add((str(key),))
        elif isinstance(value, Mapping) and value:
            found.update((COMPONENTS, str(name)) for name in value)
        else:
            return None
    return found


def unit_value(data: Mapping[str, Any], unit: KeyPath, missing: Any = None) -> Any:
    """The value a unit holds in ``data`` (``missing`` when absent)."""
    node: Any = data
    for part in unit:
        if not isinstance(node, Mapping) or part not in node:
            return missing
        node = node[part]
    return node


def touched_by(before: Sequence[MergedFile], after: Sequence[MergedFile]) -> set[KeyPath] | None:
    """The units the edited files (those of ``after`` that are not ``before``'s, position by
    position) set before or after their edit; None when one sets `components` as a whole."""
    touched: set[KeyPath] = set()
    for new, old in zip(after, before, strict=True):
        if new is not old:
            for values in (old.values, new.values):
                found = units_in(values)
                if found is None:
                    return None
                touched |= found
    return touched
