"""Imports inside `framework/` run one way, down; no module or function outgrows a reader.

The layers below are the module map of DESIGN.md, bottom first. A module may import from its
own layer or a lower one, never a higher one, and no import (TYPE_CHECKING-only and
function-local ones included) closes a cycle. A new module fails here until it is given a
layer: deciding where it sits is part of adding it.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "framework"

LAYERS: list[list[str]] = [
    ["framework._version", "framework.errors", "framework.types", "framework.callbacks", "framework.loguru_bare",
     "framework.tasks", "framework.bounded"],
    ["framework.secrets"],
    ["framework.logging", "framework.resilience", "framework.terminal", "framework.metrics"],
    ["framework.config"],
    ["framework.component", "framework.contracts", "framework.log_settings", "framework.targets"],
    ["framework.graph", "framework.registry", "framework.extensions"],
    ["framework.events"],
    ["framework.container", "framework.lifecycle", "framework.error_events", "framework.alerts"],
    ["framework.assembly", "framework.control", "framework.schemas", "framework.asyncapi"],
    ["framework.health_records", "framework.health"],
    ["framework.supervisor"],
    ["framework.reload"],
    ["framework.fleet", "framework.modules"],
    ["framework.admin"],
    ["framework.app"],
    ["framework.remote"],
    ["framework.cli", "framework.testing"],
    ["framework", "framework.__main__"],  # the public API and `python -m framework`: the top
]

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every framework module this file imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known}


def _layer_of(module: str) -> int | None:
    """The layer whose entry names the module or its nearest enclosing package."""
    best: tuple[int, int] | None = None  # (length of the matching entry, layer)
    for index, entries in enumerate(LAYERS):
        for entry in entries:
            covers = module == entry or (entry != "framework" and module.startswith(entry + "."))
            if covers and (best is None or len(entry) > best[0]):
                best = (len(entry), index)
    return None if best is None else best[1]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in _modules() if _layer_of(name) is None]
    assert unplaced == [], f"give these modules a layer in LAYERS: {unplaced}"


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = [
        f"{module} (layer {_layer_of(module)}) imports {target} (layer {_layer_of(target)})"
        for module, targets in sorted(_graph().items())
        for target in sorted(targets)
        if (_layer_of(target) or 0) > (_layer_of(module) or 0)
    ]
    assert upward == [], "\n".join(upward)


def test_no_import_cycle() -> None:
    try:
        list(graphlib.TopologicalSorter(_graph()).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_guard_sees_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The two checks above can fail: a planted lower-to-higher import is found by both rules."""
    planted = tmp_path / "planted.py"
    planted.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from framework.app import App\n")
    assert _imports(planted, {"framework.app"}) == {"framework.app"}
    assert _layer_of("framework.app") > _layer_of("framework.config.snapshot")  # type: ignore[operator]
    graph = {"framework.a": {"framework.b"}, "framework.b": {"framework.a"}}
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(graph).static_order())


def test_no_module_is_over_the_size_limit() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"


def test_no_function_is_over_the_size_limit() -> None:
    long = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {size} lines")
    assert long == [], f"split these functions (over {MAX_FUNCTION_LINES} lines): {long}"
