"""Merging YAML files' plain values in order, as OmegaConf merges them, in one linear pass.

OmegaConf re-parents the whole growing tree on every merge (quadratic in the number of files);
merging the plain values first and building one config is linear. Used by the first compose,
by a reload's re-merge and by the composition cache's re-merge of edited files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from framework.config.plain import thaw


def merge_plain(values: Iterable[Any]) -> dict[str, Any] | None:
    """The values merged in order, or None where OmegaConf has rules of its own."""
    tree: dict[str, Any] = {}
    return tree if all(_merge_into(tree, each) for each in values) else None


def _merge_into(target: dict[str, Any], source: Any) -> bool:
    """Merge YAML values as OmegaConf merges them: mappings key by key, everything else
    replaced. False where a mapping meets a non-mapping (OmegaConf has its own rules there)."""
    if not isinstance(source, dict):
        return False
    for key, value in source.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            if not _merge_into(current, value):
                return False
        elif key in target and isinstance(value, dict) != isinstance(current, dict):
            return False
        else:
            target[key] = thaw(value)
    return True
