"""Class resolution and discovery: dotted paths (allowlisted), entry points, component dirs.

Importing a module named in a config file executes code, so dotted paths are refused unless
they lie under `app.allowed_packages` or a scanned `app.component_dirs` folder. Entry points
come from installed distributions and are trusted like any installed code.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import sys
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from framework.config.schema import Schema, check_schema
from framework.errors import ClassNotAllowedError, ComponentImportError, NotAComponentError
from framework.types import Component

ENTRY_POINT_GROUP = "framework.components"


class Registry:
    """Resolves a component's `class` reference to a class, and caches the answer."""

    def __init__(self, allowed_packages: Iterable[str] = (), component_dirs: Iterable[str] = ()) -> None:
        # Like `python -m`, the project folder is importable, so `components.x.Y` resolves.
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        self._allowed = set(allowed_packages)
        self._allowed |= scan_component_dirs(component_dirs)
        self._cache: dict[str, type] = {}

    @classmethod
    def for_app(cls, app: Mapping[str, Any]) -> Registry:
        return _registry(tuple(app.get("allowed_packages", ())), tuple(app.get("component_dirs", ())))

    def resolve(self, ref: str, owner: str) -> type:
        """The class for `ref` (an entry point name or a dotted path), or a clear error."""
        if ref not in self._cache:
            self._cache[ref] = self._resolve(ref, owner)
        return self._cache[ref]

    def config_schema(self, ref: str, owner: str) -> Schema | None:
        """The component class's config schema; None when the class cannot be resolved yet
        (that error is reported by the wiring check, with its cause)."""
        try:
            cls = self.resolve(ref, owner)
        except (ClassNotAllowedError, ComponentImportError, NotAComponentError):
            return None
        schema = getattr(cls, "config_schema", None)
        return schema  # the same object each time, so its Validator is cached

    def _resolve(self, ref: str, owner: str) -> type:
        where = f"components.{owner}.class"
        module_name, _, attribute = ref.replace(":", ".").rpartition(".")
        # An allowed dotted path is imported as written; only other names are looked up among
        # the installed plugins (reading entry points scans every installed distribution).
        plugins = {} if module_name and self._is_allowed(module_name) else _entry_points()
        if ref in plugins:
            return _as_class(plugins[ref].load(), ref, where)
        if not module_name:
            known = ", ".join(sorted(plugins)) or "none installed"
            raise NotAComponentError(
                f"{where}: '{ref}' is neither an installed plugin ({known}) nor a dotted path"
                " such as 'mypackage.module.Class'"
            )
        if not self._is_allowed(module_name):
            allowed = ", ".join(sorted(self._allowed)) or "none"
            raise ClassNotAllowedError(
                f"{where}: '{ref}' is outside the allowed packages ({allowed}); importing it would"
                f" run its code. Add '{module_name.split('.')[0]}' to app.allowed_packages if you trust it"
            )
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # any import-time failure is the user's module's
            raise ComponentImportError(
                f"{where}: importing module '{module_name}' failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not hasattr(module, attribute):
            names = [n for n, v in vars(module).items() if inspect.isclass(v)]
            close = difflib.get_close_matches(attribute, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise NotAComponentError(f"{where}: module '{module_name}' has no '{attribute}'{hint}")
        return _as_class(getattr(module, attribute), ref, where)

    def _is_allowed(self, module_name: str) -> bool:
        parts = module_name.split(".")
        return any(".".join(parts[:n]) in self._allowed for n in range(1, len(parts) + 1))


@lru_cache(maxsize=8)
def _registry(allowed: tuple[str, ...], dirs: tuple[str, ...]) -> Registry:
    return Registry(allowed, dirs)


def _as_class(obj: Any, ref: str, where: str) -> type:
    if not inspect.isclass(obj):
        raise NotAComponentError(f"{where}: '{ref}' is a {type(obj).__name__}, not a class")
    if not issubclass(obj, Component):  # the framework calls start() and stop()
        raise NotAComponentError(f"{where}: class '{ref}' must define start() and stop() methods")
    schema = getattr(obj, "config_schema", None)
    if schema is not None:
        try:
            check_schema(dict(schema), f"{where} '{ref}'")
        except TypeError as exc:
            raise NotAComponentError(str(exc)) from exc
    return obj


@lru_cache(maxsize=1)  # installing a plugin takes a restart, as for any installed code
def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def scan_component_dirs(dirs: Iterable[str]) -> set[str]:
    """Put each folder on sys.path; its modules and packages become allowed import roots."""
    roots: set[str] = set()
    for folder in dirs:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise ComponentImportError(f"app.component_dirs: folder '{folder}' does not exist")
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
        for child in path.iterdir():
            if child.suffix == ".py" and child.stem != "__init__":
                roots.add(child.stem)
            elif (child / "__init__.py").is_file():
                roots.add(child.name)
    return roots
