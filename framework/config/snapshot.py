"""The snapshot: one composition's immutable plain data, provenance, version and hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NoReturn

from framework.config.compose import Composition
from framework.config.plain import thaw
from framework.config.provenance import Provenance
from framework.config.schema import Reload
from framework.config.units import COMPONENTS
from framework.errors import UnknownKeyError
from framework.secrets import SecretMasker, mask, secret_values
from framework.types import KeyPath


class FrozenDict(dict[str, Any]):
    """A dict that refuses changes: reads cost what a dict read costs."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("configuration is read-only; edit the YAML or use an override instead")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self) -> Any:
        return (FrozenDict, (dict(self),))


def freeze(value: Any) -> Any:
    """Deep copy into FrozenDicts and tuples; a FrozenDict is taken as it is (it is one already
    all the way down), so a reload shares the running snapshot's unchanged parts."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def digest(data: Any) -> str:
    plain = thaw(data)
    try:
        canonical = json.dumps(plain, sort_keys=True, default=str, separators=(",", ":"))
    except TypeError:  # a mapping mixes int and str keys (YAML allows it): sort them as JSON writes them
        canonical = json.dumps(_text_keys(plain), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _text_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _text_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_text_keys(v) for v in value]
    return value


def units(data: Mapping[str, Any]) -> Iterator[tuple[KeyPath, Any]]:
    """(unit, value) of every unit of ``data`` (see ``framework.config.units``); a `components`
    that is not a mapping with entries is a unit of its own."""
    for key, value in data.items():
        if key == COMPONENTS and isinstance(value, Mapping) and value:
            for name, entry in value.items():
                yield (COMPONENTS, str(name)), entry
        else:
            yield (str(key),), value


def unit_digests(
    data: Mapping[str, Any], reuse: tuple[Mapping[KeyPath, str], Collection[KeyPath]] | None = None
) -> dict[KeyPath, str]:
    """The digest of each unit's value; ``reuse``: digests that still hold outside some units."""
    previous, touched = reuse if reuse is not None else ({}, ())
    found = {}
    for unit, value in units(data):
        known = previous.get(unit) if unit not in touched else None
        found[unit] = known if known is not None else digest(value)
    return found


def combined_digest(digests: Mapping[KeyPath, str]) -> str:
    """One digest of the whole config from its units' digests."""
    canonical = json.dumps(sorted([list(unit), value] for unit, value in digests.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup(data: Any, path: KeyPath) -> Any:
    """The value at a key path; list items are addressed by index."""
    node = data
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(part)
    return node


@dataclass(frozen=True)
class Snapshot:
    """An immutable, validated configuration; components only ever see its plain data."""

    data: FrozenDict
    provenance: Provenance
    version: int
    digest: str
    secrets: frozenset[KeyPath] = frozenset()
    reload_policy: Mapping[KeyPath, Reload] = field(default_factory=dict)
    # What the schemas say each key is for (their ``description`` rules), shown by explain; or
    # the function that works it out, called only when something asks (a launch never does).
    descriptions: Mapping[KeyPath, str] | Callable[[], Mapping[KeyPath, str]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # How it was composed, so a reload can re-merge only the edited files.
    composition: Composition | None = field(default=None, compare=False, repr=False)
    # Each unit's digest (``digest`` is made of them), for the next reload to reuse.
    unit_digests: Mapping[KeyPath, str] = field(default_factory=dict, compare=False, repr=False)
    # (digest of the snapshot it was recomposed from, the only units that may differ from it);
    # None when composed in full. A reload diffs only those units.
    changed_since: tuple[str, frozenset[KeyPath]] | None = field(default=None, compare=False, repr=False)
    # The secret values of each unit of the snapshot it was recomposed from, to reuse outside
    # ``changed_since``'s units.
    inherited_secrets: Mapping[KeyPath, list[Any]] | None = field(default=None, compare=False, repr=False)

    def get(self, dotted: str) -> Any:
        try:
            return lookup(self.data, split_key(dotted))
        except KeyError:
            raise UnknownKeyError(unknown_key_message(dotted, self.data)) from None

    def masked(self) -> dict[str, Any]:
        """The whole config as plain data, secrets masked: what may be shown."""
        result: dict[str, Any] = mask(self.data, (), self.secrets)
        return result

    def secret_values(self) -> list[Any]:
        """The values at every secret key, and every URL password, so text showing them can be masked."""
        return [value for found in self.secrets_by_unit.values() for value in found]

    @cached_property
    def secrets_by_unit(self) -> Mapping[KeyPath, list[Any]]:
        """``secret_values`` by unit, worked out once (a reload reuses the unchanged units')."""
        inherited = self.inherited_secrets or {}
        touched = self.changed_since[1] if self.changed_since is not None else None
        found = {}
        for unit, value in units(self.data):
            if touched is not None and unit not in touched and unit in inherited:
                found[unit] = inherited[unit]
            else:
                placed: Any = value
                for key in reversed(unit):
                    placed = {key: placed}
                found[unit] = secret_values(placed, self.secrets)
        return found

    @cached_property
    def masker(self) -> SecretMasker:
        """A masker of this snapshot's secret values, built once (the snapshot never changes):
        the admin API masks every response with it, and building one costs tens of µs."""
        return SecretMasker(self.secret_values())

    def policy(self, path: KeyPath) -> Reload:
        """The reload policy of a key (its nearest described ancestor's, else live)."""
        while path:
            if path in self.reload_policy:
                return self.reload_policy[path]
            path = path[:-1]
        return Reload.LIVE

    @cached_property
    def _described(self) -> Mapping[KeyPath, str]:
        return self.descriptions() if callable(self.descriptions) else self.descriptions

    def description(self, path: KeyPath) -> str | None:
        """What the schema says a key is for; a list item's is its list's. None when it says nothing."""
        described = self._described
        while path and path[-1].isdigit() and path not in described:
            path = path[:-1]
        return described.get(path)

    def section(self, name: str) -> FrozenDict:
        value = self.data.get(name)
        return value if isinstance(value, FrozenDict) else FrozenDict()


def split_key(dotted: str) -> KeyPath:
    return tuple(part for part in dotted.split(".") if part)


def unknown_key_message(dotted: str, data: Any) -> str:
    import difflib

    from framework.config.plain import leaves

    known = [".".join(path) for path, _ in leaves(data)]
    close = difflib.get_close_matches(dotted, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"'{dotted}' is not a key of the config{hint}"
