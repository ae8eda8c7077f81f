"""Provenance: which layer set each leaf, where, and what it overrode.

Hydra keeps no per-value origin (omegaconf issue 1173), so we rebuild it: the files Hydra
merged are re-read for line numbers, then the env and CLI overrides are laid on top.
A leaf is a scalar, a list (lists are replaced whole when merged) or an empty mapping.

An origin is shown as it is stored: a command-line argument that carries a secret (or a URL
with a password) is stored with that value masked, so no message that names it can leak it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from framework.config.compose import Composition, MergedFile, Override
from framework.config.env import quoted
from framework.config.installed import ORIGIN as INSTALLED_ORIGIN
from framework.config.overlay import ORIGIN as OVERLAY_ORIGIN
from framework.config.plain import leaves
from framework.config.units import COMPONENTS, unit_of
from framework.secrets import mask
from framework.types import KeyPath

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Layer(StrEnum):
    """Where a value can come from, lowest precedence first."""

    DEFAULT = "schema default"
    FILE = "file"
    MODULE = "module registry"
    FLEET = "fleet overlay"
    ENV = "env"
    CLI = "command line"


@dataclass(frozen=True)
class Origin:
    """One layer's value for a key, and where exactly it was set."""

    layer: Layer
    where: str  # "conf/config.yaml:7", "env DEMO__APP__NAME", "argument app.name=x", ...
    value: Any  # as that layer set it, unmasked: mask it before showing it

    def __str__(self) -> str:
        return self.where


class Provenance:
    """Origins per key path, ascending precedence: the last one won. ``base``: what file paths
    are shown relative to."""

    def __init__(self, origins: dict[KeyPath, list[Origin]], base: Path | None = None) -> None:
        self._origins = origins
        self.base = base

    def history(self, path: KeyPath) -> list[Origin]:
        """Every layer that set this key (or, for a key inside a list, its nearest ancestor)."""
        while path:
            if path in self._origins:
                return list(self._origins[path])
            path = path[:-1]
        return []

    def winner(self, path: KeyPath) -> Origin | None:
        history = self.history(path)
        return history[-1] if history else None

    def where(self, path: KeyPath) -> str:
        """Short origin for messages: 'file:line', 'env X', 'argument k=v', or 'unknown'."""
        winner = self.winner(path)
        return winner.where if winner else "origin unknown"

    def paths(self) -> Iterator[KeyPath]:
        return iter(self._origins)

    def alias(self, source: KeyPath, target: KeyPath) -> None:
        """Give ``target`` (a key validation renamed ``source`` to) the origins of ``source``."""
        if source in self._origins:
            self._origins[target] = list(self._origins[source])

    def add_defaults(self, normalized: Any, prefix: KeyPath, section: str) -> None:
        """Record every leaf that only validation's schema defaults supplied."""
        for path, value in leaves(normalized, prefix):
            if not self.history(path) or self.history(path)[-1].value is _DELETED:
                self._origins[path] = [Origin(Layer.DEFAULT, f"schema default ({section})", value)]


_DELETED = object()


def trace(
    composition: Composition,
    base: Path | None = None,
    secrets: Collection[KeyPath] = frozenset(),
    reuse: tuple[Provenance, Collection[KeyPath]] | None = None,
) -> Provenance:
    """Build provenance for a composition; paths are shown relative to ``base``, arguments
    with the values of ``secrets`` (and URL passwords) masked.

    ``reuse``: a provenance whose origins still hold outside the given units (see
    ``framework.config.units``): only those units are traced again, the rest is taken as it is.
    """
    origins: dict[KeyPath, list[Origin]] = {}
    touched: Collection[KeyPath] | None = None
    if reuse is not None:
        previous, touched = reuse
        origins = {  # unit_of, inlined: this runs for every key of the config
            path: found
            for path, found in previous._origins.items()
            if (path[:2] if path[0] == COMPONENTS and len(path) > 1 else path[:1]) not in touched
        }
    interior: set[KeyPath] = set()  # paths that hold mappings, to spot a leaf replacing one
    for merged in composition.files:
        by_unit = _file_origins(merged, base)
        for unit in by_unit if touched is None else [u for u in touched if u in by_unit]:
            for path, origin in by_unit[unit]:
                _set(origins, interior, path, origin)
    for override in composition.overrides:
        if override.is_group:
            continue
        prefix = tuple(override.key.split("."))
        if touched is not None and unit_of(prefix) not in touched:
            continue  # the others keep their origins (an override of `components` as a whole spans them all)
        layer = _layer_of(override.origin)
        if override.is_delete:
            _drop(origins, prefix)
            continue
        where = _masked_argument(override, prefix, frozenset(secrets)) if layer is Layer.CLI else override.origin
        for path, value in leaves(override.value, prefix):
            _set(origins, interior, path, Origin(layer, where, value))
    return Provenance(origins, base)


def _layer_of(origin: str) -> Layer:
    if origin.startswith("env "):
        return Layer.ENV
    if origin.startswith(INSTALLED_ORIGIN):
        return Layer.MODULE
    return Layer.FLEET if origin.startswith(OVERLAY_ORIGIN) else Layer.CLI


def _masked_argument(override: Override, prefix: KeyPath, secrets: frozenset[KeyPath]) -> str:
    """The argument as typed or, when it carries a secret or a URL password, written again
    with those masked: `argument http={host:h,token:***}`."""
    masked = mask(override.value, prefix, secrets)
    if masked == override.value:
        return override.origin
    return f"{override.origin.partition('=')[0]}={_shown_value(masked)}"


_BARE = re.compile(r"[^\s'\"\\,\[\]{}()]+")  # shown without quotes: no spaces, quotes or brackets


def _shown_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_shown_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_shown_value(v) for v in value) + "]"
    if isinstance(value, str):
        return value if _BARE.fullmatch(value) else quoted(value)
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _set(origins: dict[KeyPath, list[Origin]], interior: set[KeyPath], path: KeyPath, origin: Origin) -> None:
    if path in interior:  # a leaf replaced a mapping: what was below is gone
        _drop(origins, path)
        interior.discard(path)
    for depth in range(1, len(path)):  # a mapping replaced a leaf: that leaf is gone
        ancestor = path[:depth]
        if ancestor not in interior:
            origins.pop(ancestor, None)
            interior.add(ancestor)
    origins.setdefault(path, []).append(origin)


def _drop(origins: dict[KeyPath, list[Origin]], prefix: KeyPath) -> None:
    for path in [p for p in origins if p[: len(prefix)] == prefix]:
        del origins[path]


# A file's origins by unit, by (text, package, config path, shown path): a reload traces the
# unchanged files from here instead of parsing each of them again for its line numbers.
_FileOrigins = dict[KeyPath, list[tuple[KeyPath, Origin]]]
_MEMO_LIMIT = 4096
_memo: dict[tuple[str, str, str, Path | None, Path | None], _FileOrigins] = {}


def _file_origins(merged: MergedFile, base: Path | None) -> _FileOrigins:
    """The origin of each leaf a file sets, grouped by unit, in the file's order."""
    key = (merged.text, merged.package, merged.config_path, merged.path, base) if merged.text is not None else None
    found = _memo.get(key) if key is not None else None
    if found is None:
        found = {}
        shown = _display(merged.path, base) if merged.path else f"pkg:{merged.config_path}"
        for path, origin in _traced_file(merged, shown):
            found.setdefault(unit_of(path), []).append((path, origin))
        if key is not None:
            if len(_memo) >= _MEMO_LIMIT:
                _memo.clear()
            _memo[key] = found
    return found


def _traced_file(merged: MergedFile, shown: str) -> Iterator[tuple[KeyPath, Origin]]:
    # Hydra hands over values already placed under the file's package; lines are file-relative.
    package = tuple(p for p in merged.package.split(".") if p and p != "_global_")
    # The text composition already read: the file may have changed on disk since.
    lines = _line_numbers(merged.text) if merged.text is not None else {}
    values = dict(merged.values) if isinstance(merged.values, Mapping) else {}
    if not package:
        values.pop("defaults", None)  # the defaults list is Hydra's, not a value
    for path, value in leaves(values):
        line = lines.get(path[len(package) :])
        where = f"{shown}:{line}" if line else shown
        yield path, Origin(Layer.FILE, where, value)


def _display(path: Path, base: Path | None) -> str:
    try:
        return str(path.relative_to(base)) if base else str(path)
    except ValueError:
        return str(path)


def _line_numbers(text: str) -> dict[KeyPath, int]:
    """1-based line of every key in a YAML file (values on their own lines included).

    The walk follows aliases into every repeat, so it is bounded only because each text here
    was first loaded within ``bounded_yaml``'s limits (composition keeps no other text): no
    cycle, at most 32 levels, and at most MAX_ALIAS_NODES nodes more than the text writes out.
    """
    node = yaml.compose(text, Loader=_Loader)
    found: dict[KeyPath, int] = {}
    _walk_nodes(node, (), found)
    return found


def _walk_nodes(node: Any, prefix: KeyPath, found: dict[KeyPath, int]) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        path = (*prefix, str(key_node.value))
        found[path] = key_node.start_mark.line + 1
        _walk_nodes(value_node, path, found)
