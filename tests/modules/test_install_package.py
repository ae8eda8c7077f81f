"""An installed module's package is imported from its own folder only, and a new version's
folder replaces the old one's modules."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework import ComponentImportError
from framework.registry import install_package, reset, uninstall_package


@pytest.fixture(autouse=True)
def forget() -> Iterator[None]:
    yield
    reset()


def _version(root: Path, value: int) -> Path:
    folder = root / f"v{value}"
    (folder / "installed_probe").mkdir(parents=True)
    (folder / "installed_probe" / "__init__.py").write_text(f"VALUE = {value}\n")
    return folder


def test_a_new_version_replaces_the_modules_of_the_old(tmp_path: Path) -> None:
    install_package("installed_probe", _version(tmp_path, 1))
    assert importlib.import_module("installed_probe").VALUE == 1
    install_package("installed_probe", _version(tmp_path, 2))
    assert importlib.import_module("installed_probe").VALUE == 2
    uninstall_package("installed_probe")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("installed_probe")


def test_a_package_that_import_finds_elsewhere_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "v1"
    (folder / "json").mkdir(parents=True)
    (folder / "json" / "__init__.py").write_text("raise SystemExit('never runs')\n")
    with pytest.raises(ComponentImportError, match="'json' is hidden by another module of that name"):
        install_package("json", folder)
