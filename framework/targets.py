"""Hydra ``_target_`` objects in a component's config: checked before anything runs, then made
by Hydra's own ``instantiate``.

A mapping with ``_target_: pkg.module.Name`` anywhere in a component's ``config`` (in lists
too) stands for the object Hydra makes of it: ``Name(*_args_, **other keys)``, a
``functools.partial`` with ``_partial_: true``, its own ``_target_`` nodes made first unless
``_recursive_: false``, containers converted as ``_convert_`` says. The component receives the
objects in place of the mappings.

The difference from Hydra: Hydra calls whatever a config names. Here every ``_target_`` must
lie under ``app.allowed_packages``, which ``integrate check`` verifies before importing it, and
its arguments must fit its signature; each problem names the key and where it was set.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from framework.config.plain import thaw
from framework.config.snapshot import FrozenDict
from framework.errors import ConfigError
from framework.types import KeyPath

TARGET = "_target_"
# Keys that steer instantiate rather than being arguments.
SPECIAL = frozenset({TARGET, "_args_", "_partial_", "_recursive_", "_convert_"})

# Imports what a dotted path names, refusing one outside the allowed packages (Registry.locate).
Locate = Callable[[str, str], Any]


class TargetError(ConfigError):
    """A ``_target_`` that is not allowed, does not import, or cannot take its arguments."""


def target_nodes(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Mapping[str, Any]]]:
    """Every ``_target_`` mapping in ``value`` with its path, nested ones included."""
    if isinstance(value, Mapping):
        if TARGET in value:
            yield path, value
        for key, item in value.items():
            yield from target_nodes(item, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from target_nodes(item, (*path, str(index)))


def target_problems(
    config: Mapping[str, Any], prefix: KeyPath, locate: Locate, where: Callable[[KeyPath], str]
) -> list[TargetError]:
    """What is wrong with each ``_target_`` of a component's ``config`` (``prefix``: its key path).

    ``where(path)`` says where a key was set, for the message.
    """
    problems = []
    for path, node in target_nodes(config):
        key = ".".join((*prefix, *path, TARGET))
        problem = _problem(node, key, locate)
        if problem is not None:
            problems.append(TargetError(f"{problem} [{where((*prefix, *path, TARGET))}]"))
    return problems


def _problem(node: Mapping[str, Any], key: str, locate: Locate) -> str | None:
    ref = node[TARGET]
    if not isinstance(ref, str) or not ref:
        return f"{key}: must be a dotted path such as 'mypackage.module.Class' (got {ref!r})"
    try:
        target = locate(ref, key)
    except ConfigError as exc:
        return str(exc)
    if not callable(target):
        return f"{key}: '{ref}' is a {type(target).__name__}, which cannot be called"
    args = node.get("_args_", ())
    if not isinstance(args, list | tuple):
        return f"{key[: -len(TARGET)]}_args_: must be a list of positional arguments (got {args!r:.60})"
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # some builtins have none: their call tells
        return None
    bind = signature.bind_partial if node.get("_partial_") is True else signature.bind
    try:
        bind(*args, **{k: v for k, v in node.items() if k not in SPECIAL})
    except TypeError as exc:
        return f"{key}: {ref}{signature} cannot take these arguments: {exc}"
    return None


def materialize(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """``config`` with each outermost ``_target_`` mapping replaced by the object Hydra makes of
    it; ``config`` itself when it has none (then this costs one walk)."""
    if next(target_nodes(config), None) is None:
        return config
    return _made(config)  # type: ignore[no-any-return]


def _made(value: Any) -> Any:
    from hydra.utils import instantiate  # only configs with targets pay for importing it

    if isinstance(value, Mapping):
        if TARGET in value:
            return instantiate(thaw(value))
        return FrozenDict({key: _made(item) for key, item in value.items()})  # made ones stay as made
    if isinstance(value, list | tuple):
        return tuple(_made(item) for item in value)
    return value
