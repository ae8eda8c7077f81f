"""Class resolution and discovery: dotted paths (allowlisted), entry points, component dirs.

Importing a module named in a config file executes code, so dotted paths are refused unless
they lie under `app.allowed_packages` or a scanned `app.component_dirs` folder. Entry points
come from installed distributions and are trusted like any installed code.

Project folders (the component dirs and the working directory) are never put on `sys.path`:
a finder placed after the standard ones imports from them only what `app.allowed_packages` or
a component's class names, so a `sqlite3.py` or `json.py` lying there neither shadows the
standard library nor runs.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from framework.config.cross_field import ConfigCheck
from framework.config.schema import Schema, check_schema
from framework.errors import ClassNotAllowedError, ComponentImportError, NotAComponentError
from framework.types import Component

ENTRY_POINT_GROUP = "framework.components"


class Registry:
    """Resolves a component's `class` reference to a class, and caches the answer."""

    def __init__(self, allowed_packages: Iterable[str] = (), component_dirs: Iterable[str] = ()) -> None:
        self._allowed = set(allowed_packages)
        # Like `python -m`, the project folder is importable, so `components.x.Y` resolves; here
        # for the allowed packages only, and after the standard library and installed packages.
        for root in {package.split(".")[0] for package in self._allowed}:
            _FINDER.add(root, Path.cwd())
        self._dirs: dict[str, Path] = {}  # a component dir's module or package, by name
        self._hidden: dict[str, str] = {}  # one that `import` would not find: why
        for name, path in scan_component_dirs(component_dirs).items():
            elsewhere = _found_elsewhere(name, path)
            if elsewhere is None:
                self._dirs[name] = path
            else:
                self._hidden[name] = f"{path} is hidden by another module of that name ({elsewhere})"
        self._allowed |= self._dirs.keys()
        self._cache: dict[str, type] = {}

    @classmethod
    def for_app(cls, app: Any) -> Registry:
        """The registry the `app` section names; asked before that section is validated, so a
        malformed one (`app=5`, a number for a list) names nothing here, and validation says why."""
        settings = app if isinstance(app, Mapping) else {}
        return _registry(_strings(settings.get("allowed_packages")), _strings(settings.get("component_dirs")))

    def resolve(self, ref: str, owner: str) -> type:
        """The class for `ref` (an entry point name or a dotted path), or a clear error."""
        if ref.replace(":", ".").split(".")[0] in _INSTALLED:
            return self._resolve(ref, owner)  # another version may replace it: never cached
        if ref not in self._cache:
            self._cache[ref] = self._resolve(ref, owner)
        return self._cache[ref]

    def config_schema(self, ref: str, owner: str) -> Schema | None:
        """The component class's config schema; None when the class cannot be resolved yet
        (that error is reported by the wiring check, with its cause)."""
        # the same object each time, so its Validator is cached
        return getattr(self._class_or_none(ref, owner), "config_schema", None)

    def config_check(self, ref: str, owner: str) -> ConfigCheck | None:
        """The component class's cross-field check (``validate_config``); None when it has none
        or cannot be resolved yet."""
        check = getattr(self._class_or_none(ref, owner), "validate_config", None)
        return check if callable(check) else None

    def _class_or_none(self, ref: str, owner: str) -> type | None:
        try:
            return self.resolve(ref, owner)
        except (ClassNotAllowedError, ComponentImportError, NotAComponentError):
            return None  # the wiring check reports why, with its cause

    def _resolve(self, ref: str, owner: str) -> type:
        where = f"components.{owner}.class"
        module_name = ref.replace(":", ".").rpartition(".")[0]
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
        return _as_class(self.locate(ref, where), ref, where)

    def locate(self, ref: str, where: str) -> Any:
        """What the dotted path ``ref`` names, imported only if it lies under the allowed
        packages; ``where`` (the key that names it) starts each error."""
        module_name, _, attribute = ref.replace(":", ".").rpartition(".")
        if not module_name:
            raise NotAComponentError(f"{where}: '{ref}' is not a dotted path such as 'mypackage.module.name'")
        if not self._is_allowed(module_name):
            root = module_name.split(".")[0]
            if root in self._hidden:
                raise ClassNotAllowedError(f"{where}: '{ref}' cannot be imported: {self._hidden[root]}; rename it")
            allowed = ", ".join(sorted(self._allowed)) or "none"
            raise ClassNotAllowedError(
                f"{where}: '{ref}' is outside the allowed packages ({allowed}); importing it would"
                f" run its code. Add '{root}' to app.allowed_packages if you trust it"
            )
        module = self._import(module_name, where)
        if not hasattr(module, attribute):
            names = [n for n, v in vars(module).items() if not n.startswith("_")]
            close = difflib.get_close_matches(attribute, names, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise NotAComponentError(f"{where}: module '{module_name}' has no '{attribute}'{hint}")
        return getattr(module, attribute)

    def _import(self, module_name: str, where: str) -> ModuleType:
        """Import an allowed module; a component dir's becomes importable only now that a class
        names it, so no other import (a library probing for an optional module) finds it."""
        root = module_name.split(".")[0]
        if root in self._dirs:
            _FINDER.add(root, self._dirs[root].parent)
        try:
            return importlib.import_module(module_name)
        except Exception as exc:  # any import-time failure is the user's module's
            missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
            hint = (
                f" ({self._dirs[missing]} is imported only as the module of a component's class;"
                " put code that modules share in a package there)"
                if missing in self._dirs
                else ""
            )
            raise ComponentImportError(
                f"{where}: importing module '{module_name}' failed: {type(exc).__name__}: {exc}{hint}"
            ) from exc

    def _is_allowed(self, module_name: str) -> bool:
        parts = module_name.split(".")
        return parts[0] in _INSTALLED or any(".".join(parts[:n]) in self._allowed for n in range(1, len(parts) + 1))


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


def scan_component_dirs(dirs: Iterable[str]) -> dict[str, Path]:
    """The modules and packages in each folder, by name: the module's file or package's folder."""
    found: dict[str, Path] = {}
    for folder in dirs:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise ComponentImportError(f"app.component_dirs: folder '{folder}' does not exist")
        for child in sorted(path.iterdir()):
            if child.suffix == ".py" and child.stem != "__init__":
                found.setdefault(child.stem, child)
            elif (child / "__init__.py").is_file():
                found.setdefault(child.name, child)
    return found


class _FolderFinder(MetaPathFinder):
    """Finds the top-level modules it was given in their folders, and nothing else.

    It stands last on `sys.meta_path`, so the standard library and installed packages come
    first; it is given a name only when `app.allowed_packages` or a component's class names it.
    """

    def __init__(self) -> None:
        self.folders: dict[str, list[str]] = {}

    def add(self, name: str, folder: Path) -> None:
        """Find ``name`` in ``folder`` too, ahead of the folders given before."""
        known = self.folders.setdefault(name, [])
        if str(folder) not in known:
            known.insert(0, str(folder))
        if self not in sys.meta_path:
            sys.meta_path.append(self)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        folders = self.folders.get(fullname) if path is None else None  # submodules: their package's
        return PathFinder.find_spec(fullname, folders) if folders else None


_FINDER = _FolderFinder()


def _found_elsewhere(name: str, path: Path) -> str | None:
    """Where `import name` finds the module when not at ``path`` (the standard library, an
    installed package, one imported earlier); None when it finds ``path``. Imports nothing."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a module imported earlier without a spec
        return "a module imported earlier"
    if spec is None:
        return None
    origin = spec.origin or ", ".join(spec.submodule_search_locations or ()) or "a namespace package"
    return None if path in (Path(origin), Path(origin).parent) else origin


_INSTALLED: dict[str, Path] = {}  # an installed module's top-level package -> the folder it is unpacked in


def install_package(package: str, folder: Path) -> None:
    """Let classes be imported from ``package``, unpacked in ``folder`` from a verified wheel.

    A module registry installed it, so it is trusted like an installed distribution, but it is
    found only in ``folder``: an installed package or standard module of that name would hide
    it, and is refused. Another folder for the same package (a new version) forgets the modules
    imported from the old one, so the next import reads the new code."""
    if _INSTALLED.get(package) == folder:
        return
    if package not in _INSTALLED:
        elsewhere = _found_elsewhere(package, folder / package)
        if elsewhere is not None:
            raise ComponentImportError(
                f"installed module package '{package}' is hidden by another module of that name ({elsewhere})"
            )
    uninstall_package(package)
    _INSTALLED[package] = folder
    _FINDER.folders[package] = [str(folder)]
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)


def uninstall_package(package: str) -> None:
    """Forget ``package`` and every module imported from it."""
    if _INSTALLED.pop(package, None) is None:
        return
    _FINDER.folders.pop(package, None)
    for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def reset() -> None:
    """Forget the classes resolved, the entry points read and the project folders (tests)."""
    _registry.cache_clear()
    _entry_points.cache_clear()
    _FINDER.folders.clear()
    _INSTALLED.clear()
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def _strings(value: Any) -> tuple[str, ...]:
    """The strings of a list setting; nothing when it is not a list."""
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list | tuple) else ()
