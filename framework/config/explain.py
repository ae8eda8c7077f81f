"""Explaining a key: its value, the layer that won, what it overrode, how it reloads, what it is for."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from framework.config.plain import leaves, thaw
from framework.config.snapshot import Snapshot, split_key
from framework.secrets import MASK, is_secret, mask
from framework.types import KeyPath


def explain(snapshot: Snapshot, dotted: str) -> dict[str, Any]:
    """A plain, masked description of one key (a leaf, or every leaf of a section)."""
    value = snapshot.get(dotted)  # raises UnknownKeyError with suggestions
    path = split_key(dotted)
    if isinstance(value, Mapping) and value:
        return {
            "key": dotted,
            "value": mask(value, path, snapshot.secrets),
            "keys": [_leaf(snapshot, p) for p, _ in leaves(thaw(value), path)],
        }
    return _leaf(snapshot, path)


def _leaf(snapshot: Snapshot, path: KeyPath) -> dict[str, Any]:
    secret = is_secret(path, snapshot.secrets)
    history = snapshot.provenance.history(path)
    layers = [
        {"layer": o.layer.value, "where": o.where, "value": mask(thaw(o.value), path, snapshot.secrets)}
        for o in reversed(history)
    ]
    report = {
        "key": ".".join(path),
        "value": mask(snapshot.get(".".join(path)), path, snapshot.secrets),
        "secret": secret,
        "reload": snapshot.policy(path).value,
        "layer": layers[0]["layer"] if layers else None,
        "where": layers[0]["where"] if layers else None,
        "overrode": layers[1:],
    }
    return _with_description(report, snapshot, path)


def _with_description(row: dict[str, Any], snapshot: Snapshot, path: KeyPath) -> dict[str, Any]:
    """The row with the schema's description of the key; unchanged when the schema gives none
    (an absent field, not a null one: most keys of user components have no description)."""
    description = snapshot.description(path)
    return {**row, "description": description} if description else row


def provenance_rows(snapshot: Snapshot) -> list[dict[str, Any]]:
    """Every leaf key with its (masked) value, the layer that set it and where: ``show --provenance``."""
    rows = []
    for path, value in leaves(snapshot.masked()):
        origin = snapshot.provenance.winner(path)
        row = {
            "key": ".".join(path),
            "value": value,
            "layer": origin.layer.value if origin else None,
            "where": origin.where if origin else None,
        }
        rows.append(_with_description(row, snapshot, path))
    return rows


def explain_text(report: dict[str, Any]) -> str:
    if "keys" in report:
        return "\n\n".join(explain_text(leaf) for leaf in report["keys"])
    lines = [
        f"{report['key']} = {_show(report['value'])}",
        *([f"  about:   {report['description']}"] if "description" in report else []),
        f"  set by:  {report['layer'] or 'unknown'} ({report['where'] or '-'})",
        f"  reload:  {report['reload']}" + (" (secret: value masked)" if report["secret"] else ""),
    ]
    for lower in report["overrode"]:
        lines.append(f"  overrode: {_show(lower['value'])} from {lower['layer']} ({lower['where']})")
    return "\n".join(lines)


def _show(value: Any) -> str:
    return value if value == MASK else json.dumps(value, default=str)


def origins_mentioned(snapshot: Snapshot, section: str, text: str) -> list[str]:
    """``key = value (where it was set)`` for each leaf under ``section`` whose name ``text``
    mentions as a word: the values an error message (a constructor's, say) is about."""
    value = snapshot.get(section)
    if not isinstance(value, Mapping):
        return []
    named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    lines = []
    for path, leaf in leaves(thaw(value), split_key(section)):
        if path[-1] in named:
            origin = snapshot.provenance.winner(path)
            shown = _show(mask(leaf, path, snapshot.secrets))
            lines.append(f"{'.'.join(path)} = {shown} ({origin.where if origin else 'origin unknown'})")
    return lines
