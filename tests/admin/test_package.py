"""The admin package's shape: it reads the app through AdminView and imports nothing above it."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

from framework.admin.types import AdminView
from tests.admin.conftest import serving

PACKAGE = Path(__file__).resolve().parents[2] / "framework" / "admin"
ABOVE = ("framework.app", "framework.cli", "framework.__main__", "framework.testing")


def imported(path: Path) -> set[str]:
    """Every module a file imports, TYPE_CHECKING blocks included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_admin_imports_nothing_above_it() -> None:
    """No module of framework/admin imports the app, the CLI, or the package root."""
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in imported(path):
            assert name != "framework", f"{path.name} imports the package root"
            assert not name.startswith(ABOVE), f"{path.name} imports {name}"


def test_admin_modules_and_functions_stay_small() -> None:
    """Each module is at most 500 lines and each function at most 60."""
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        assert text.count("\n") <= 500, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 60, f"{path.name}:{node.lineno} {node.name} has {length} lines"


def test_a_running_app_offers_everything_admin_view_reads(project: Path) -> None:
    """Every member of the AdminView Protocol is there on a started App."""
    members = {name for name in vars(AdminView) if not name.startswith("_")}
    assert {"snapshot", "health", "bus", "reload", "reload_in_progress"} <= members

    async def main() -> set[str]:
        async with serving(project) as (app, _):
            return {name for name in members if not hasattr(app, name)}

    assert asyncio.run(main()) == set()
