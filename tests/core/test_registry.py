"""Class resolution: allowlisted dotted paths, installed entry points, scanned component dirs."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from framework import registry
from framework.errors import ClassNotAllowedError, ComponentImportError, NotAComponentError
from framework.registry import ENTRY_POINT_GROUP, Registry, scan_component_dirs
from framework.testing import write_tree

OURS = ("regpkg", "regplug", "regdir", "regcwd", "outsider")  # every module these tests write
COMPONENT = """
class Widget:
    version = "1.0"
    config_schema = {"size": {"type": "integer", "default": 1}}

    def start(self): ...

    def stop(self): ...
"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own sys.path, forgets the modules it wrote and the cached lookups."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    registry.reset()
    yield
    for name in [n for n in sys.modules if n.startswith(OURS)]:
        del sys.modules[name]
    registry.reset()
    importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An importable folder holding package `regpkg` (good, broken and odd members) and module `outsider`."""
    root = write_tree(
        tmp_path / "site",
        {
            "regpkg/__init__.py": "",
            "regpkg/parts.py": COMPONENT
            + "\nclass NoStop:\n    def start(self): ...\n\ndef factory(): ...\n\nBadSchema = type('BadSchema', (Widget,), {'config_schema': {'size': {'type': 'nonsense'}}})\n",
            "regpkg/broken.py": "raise RuntimeError('database down at import')\n",
            "regpkg_evil/__init__.py": "",
            "regpkg_evil/parts.py": "import builtins\nbuiltins.REGPKG_EVIL_RAN = True\n" + COMPONENT,
            "outsider.py": "import builtins\nbuiltins.OUTSIDER_RAN = True\n" + COMPONENT,
        },
    )
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    return root


def test_a_class_under_an_allowed_package_resolves(site: Path) -> None:
    """A dotted path under an allowed package (any depth, ':' or '.') gives the class."""
    found = Registry(["regpkg"]).resolve("regpkg.parts.Widget", "w")
    assert found.__module__ == "regpkg.parts" and found.__name__ == "Widget"
    assert Registry(["regpkg.parts"]).resolve("regpkg.parts:Widget", "w") is found


def test_a_path_outside_the_allowlist_is_refused_without_importing_it(site: Path) -> None:
    """A module outside the allowed packages is never imported; the error names the fix."""
    import builtins

    with pytest.raises(ClassNotAllowedError) as caught:
        Registry(["regpkg"]).resolve("regpkg_evil.parts.Widget", "w")
    assert str(caught.value) == (
        "components.w.class: 'regpkg_evil.parts.Widget' is outside the allowed packages (regpkg);"
        " importing it would run its code. Add 'regpkg_evil' to app.allowed_packages if you trust it"
    )
    assert isinstance(caught.value, PermissionError)
    assert "regpkg_evil.parts" not in sys.modules and not hasattr(builtins, "REGPKG_EVIL_RAN")


def test_an_allowed_subpackage_does_not_allow_its_parent(site: Path) -> None:
    """Allowing regpkg.parts does not allow regpkg itself, nor a sibling module."""
    with pytest.raises(ClassNotAllowedError, match=r"outside the allowed packages \(regpkg\.parts\)"):
        Registry(["regpkg.parts"]).resolve("regpkg.broken.Widget", "w")


def test_an_empty_allowlist_refuses_every_dotted_path(site: Path) -> None:
    """With nothing allowed, the error says so."""
    with pytest.raises(ClassNotAllowedError, match=r"outside the allowed packages \(none\)"):
        Registry().resolve("outsider.Widget", "w")


def test_a_module_that_fails_to_import_is_reported_with_its_cause(site: Path) -> None:
    """Any exception at import time becomes ComponentImportError naming module and cause."""
    with pytest.raises(ComponentImportError) as caught:
        Registry(["regpkg"]).resolve("regpkg.broken.Widget", "w")
    assert str(caught.value) == (
        "components.w.class: importing module 'regpkg.broken' failed: RuntimeError: database down at import"
    )
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_a_missing_module_is_an_import_error(site: Path) -> None:
    """A dotted path to a module that does not exist fails to import, naming it."""
    with pytest.raises(ComponentImportError, match="importing module 'regpkg.nothere' failed: ModuleNotFoundError"):
        Registry(["regpkg"]).resolve("regpkg.nothere.Widget", "w")


def test_a_misspelled_class_suggests_the_close_name(site: Path) -> None:
    """A name the module lacks is reported with the closest class name."""
    with pytest.raises(NotAComponentError, match=r"module 'regpkg.parts' has no 'Widgte'; did you mean 'Widget'\?"):
        Registry(["regpkg"]).resolve("regpkg.parts.Widgte", "w")


@pytest.mark.parametrize(
    "name, message",
    [
        ("factory", "'regpkg.parts.factory' is a function, not a class"),
        ("NoStop", "class 'regpkg.parts.NoStop' must define start() and stop() methods"),
        ("BadSchema", "components.w.class 'regpkg.parts.BadSchema'"),
    ],
)
def test_what_is_not_a_usable_component_class_is_refused(site: Path, name: str, message: str) -> None:
    """A function, a class without start/stop, or one with a malformed config_schema is refused."""
    with pytest.raises(NotAComponentError) as caught:
        Registry(["regpkg"]).resolve(f"regpkg.parts.{name}", "w")
    assert message in str(caught.value)


def test_config_schema_is_the_class_schema_or_none(site: Path) -> None:
    """config_schema gives the class's schema, or None when the class cannot be resolved."""
    found = Registry(["regpkg"])
    assert found.config_schema("regpkg.parts.Widget", "w") == {"size": {"type": "integer", "default": 1}}
    assert found.config_schema("outsider.Widget", "w") is None
    assert found.config_schema("regpkg.broken.Widget", "w") is None


def test_for_app_reuses_one_registry_per_import_rules(site: Path) -> None:
    """Apps with the same allowed packages and dirs share a registry (and its cache of classes)."""
    app = {"allowed_packages": ["regpkg"], "component_dirs": []}
    assert Registry.for_app(app) is Registry.for_app(dict(app))
    assert Registry.for_app({"allowed_packages": ["other"]}) is not Registry.for_app(app)


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    """An installed distribution (a real .dist-info on sys.path) with two component entry points."""
    root = write_tree(
        tmp_path / "plugins",
        {
            "regplug_mod.py": COMPONENT + "\nnot_a_class = 3\n",
            "regplug-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: regplug\nVersion: 1.0\n",
            "regplug-1.0.dist-info/entry_points.txt": (
                f"[{ENTRY_POINT_GROUP}]\n"
                "regplug_widget = regplug_mod:Widget\n"
                "regplug_odd = regplug_mod:not_a_class\n"
                "regpkg.parts.Shadow = regplug_mod:Widget\n"
            ),
        },
    )
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    return root


def test_an_entry_point_name_resolves_to_its_class(plugin: Path) -> None:
    """An installed plugin's name resolves, though its module is not allowlisted."""
    found = Registry().resolve("regplug_widget", "w")
    assert found.__module__ == "regplug_mod" and found.__name__ == "Widget"


def test_an_unknown_bare_name_lists_the_installed_plugins(plugin: Path) -> None:
    """A name that is neither a plugin nor a dotted path lists the plugins there are."""
    with pytest.raises(NotAComponentError) as caught:
        Registry().resolve("regplug_nope", "w")
    text = str(caught.value)
    assert text.startswith("components.w.class: 'regplug_nope' is neither an installed plugin (")
    assert "regplug_widget" in text and text.endswith("nor a dotted path such as 'mypackage.module.Class'")


def test_an_entry_point_to_something_not_a_class_is_refused(plugin: Path) -> None:
    """An entry point is checked like any class reference."""
    with pytest.raises(NotAComponentError, match="'regplug_odd' is a int, not a class"):
        Registry().resolve("regplug_odd", "w")


def test_an_allowed_dotted_path_wins_over_a_plugin_of_the_same_name(plugin: Path, site: Path) -> None:
    """A dotted path under an allowed package is imported as written; otherwise a plugin may answer."""
    with pytest.raises(NotAComponentError, match="has no 'Shadow'"):
        Registry(["regpkg"]).resolve("regpkg.parts.Shadow", "w")
    assert Registry().resolve("regpkg.parts.Shadow", "w").__module__ == "regplug_mod"


def test_a_scanned_dir_allows_its_modules_and_packages(tmp_path: Path) -> None:
    """Modules and packages in a component dir become allowed roots; other files do not."""
    folder = write_tree(
        tmp_path / "mine",
        {
            "regdir_widgets.py": COMPONENT,
            "regdir_pack/__init__.py": "from regdir_pack.inner import Widget\n",
            "regdir_pack/inner.py": COMPONENT,
            "__init__.py": "",
            "notes.txt": "not code",
            "regdir_nopkg/data.py": COMPONENT,  # no __init__.py: not a package
        },
    )
    assert scan_component_dirs([str(folder)]) == {
        "regdir_widgets": folder / "regdir_widgets.py",
        "regdir_pack": folder / "regdir_pack",
    }
    found = Registry(component_dirs=[str(folder)])
    assert found.resolve("regdir_widgets.Widget", "w").__module__ == "regdir_widgets"
    assert found.resolve("regdir_pack.Widget", "w").__module__ == "regdir_pack.inner"
    with pytest.raises(ClassNotAllowedError):
        found.resolve("regdir_nopkg.data.Widget", "w")


def test_a_missing_component_dir_is_reported(tmp_path: Path) -> None:
    """A component dir that does not exist is an error naming it."""
    with pytest.raises(ComponentImportError, match=r"app.component_dirs: folder '.*nowhere' does not exist"):
        Registry(component_dirs=[str(tmp_path / "nowhere")])


def marker_module(marker: Path) -> str:
    """A module that leaves ``marker`` behind when imported, then defines a component."""
    return f"from pathlib import Path\nPath({str(marker)!r}).touch()\n" + COMPONENT


def test_a_component_dir_is_not_put_on_sys_path(tmp_path: Path) -> None:
    """Scanning a component dir leaves sys.path as it was; its classes resolve all the same."""
    folder = write_tree(tmp_path / "mine", {"regdir_widgets.py": COMPONENT})
    before = list(sys.path)
    found = Registry(component_dirs=[str(folder)])
    assert sys.path == before
    assert found.resolve("regdir_widgets.Widget", "w").__module__ == "regdir_widgets"


@pytest.mark.parametrize("name", ["sqlite3", "json", "csv", "secrets", "yaml"])
def test_a_module_named_like_a_standard_one_neither_shadows_it_nor_runs(tmp_path: Path, name: str) -> None:
    """`<stdlib name>.py` in a component dir: `import` still gives the standard module, the file
    never runs, a class path into it names the file and the fix, and the dir's real class resolves."""
    marker = tmp_path / "imported"
    folder = write_tree(tmp_path / "mine", {f"{name}.py": marker_module(marker), "regdir_real.py": COMPONENT})
    found = Registry(component_dirs=[str(folder)])
    assert Path(importlib.import_module(name).__file__ or "").parent != folder
    with pytest.raises(ClassNotAllowedError) as caught:
        found.resolve(f"{name}.Widget", "w")
    assert str(caught.value).startswith(
        f"components.w.class: '{name}.Widget' cannot be imported: {folder / name}.py is hidden by"
        " another module of that name ("
    )
    assert str(caught.value).endswith("); rename it")
    assert found.resolve("regdir_real.Widget", "w").__module__ == "regdir_real"
    assert not marker.exists()


def test_a_component_dir_module_no_class_names_is_never_found(tmp_path: Path) -> None:
    """A library probing for an optional module does not find a component dir's file of that name
    until a component's class names it."""
    marker = tmp_path / "imported"
    folder = write_tree(tmp_path / "mine", {"regdir_optional.py": marker_module(marker)})
    found = Registry(component_dirs=[str(folder)])
    assert importlib.util.find_spec("regdir_optional") is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("regdir_optional")
    assert not marker.exists()
    assert found.resolve("regdir_optional.Widget", "w").__module__ == "regdir_optional"
    assert marker.exists()


def test_a_module_importing_an_unnamed_sibling_is_told_why(tmp_path: Path) -> None:
    """A sibling module no class names is not importable; the error says so and what to do."""
    folder = write_tree(
        tmp_path / "mine", {"regdir_user.py": "from regdir_helper import X\n", "regdir_helper.py": "X = 1\n"}
    )
    with pytest.raises(ComponentImportError) as caught:
        Registry(component_dirs=[str(folder)]).resolve("regdir_user.Widget", "w")
    assert str(caught.value).endswith(
        f"No module named 'regdir_helper' ({folder / 'regdir_helper.py'} is imported only as the module"
        " of a component's class; put code that modules share in a package there)"
    )


def test_the_working_dir_gives_only_the_allowed_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An allowed package in the working dir resolves; no other module there is importable, and
    the working dir is not put on sys.path."""
    marker = tmp_path / "imported"
    write_tree(tmp_path, {"regcwd/__init__.py": COMPONENT, "regcwd_other.py": marker_module(marker)})
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    assert Registry(["regcwd"]).resolve("regcwd.Widget", "w").__module__ == "regcwd"
    assert sys.path == before
    assert importlib.util.find_spec("regcwd_other") is None and not marker.exists()
