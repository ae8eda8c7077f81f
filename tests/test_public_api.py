"""The public API is exactly what `framework.__all__` lists."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types

import framework


def test_every_name_in_all_is_importable() -> None:
    """Each name in __all__ resolves (the lazy admin API names included)."""
    for name in framework.__all__:
        assert getattr(framework, name) is not None, name


def test_all_lists_every_public_export() -> None:
    """No public, non-module attribute of the package is missing from __all__."""
    public = {n for n, v in vars(framework).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    public -= {"Any", "TYPE_CHECKING"}
    assert public <= set(framework.__all__), public - set(framework.__all__)
    assert framework.__all__ == sorted(framework.__all__)


def test_errors_subclass_the_nearest_builtin() -> None:
    """Users can catch framework errors with the builtin they resemble."""
    assert issubclass(framework.UnknownKeyError, KeyError)
    assert issubclass(framework.ClassNotAllowedError, PermissionError)
    assert issubclass(framework.ValidationError, ValueError)
    assert issubclass(framework.RequestTimeoutError, TimeoutError)


def test_the_cli_leaves_what_runs_later_unimported() -> None:
    """Reload, health, resilience, the admin API and their libraries load on first use.

    Importing them up front cost every `integrate` start-up about 0.1 s (bench/startup.py).
    """
    lazy = [
        "framework.reload.reloader",
        "framework.reload.apply",
        "framework.health",
        "framework.resilience",
        "framework.admin.server",
        "fastapi",
        "packaging.requirements",
        "tenacity",
        "watchfiles",
    ]
    if importlib.util.find_spec("pydantic_settings") is None:  # else dependency-injector needs it
        lazy.append("pydantic")
    code = f"import sys, framework.cli; print([m for m in {lazy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_cli_imports_loguru_without_its_default_handler() -> None:
    """Every verb configures logging itself; loguru's own stderr handler would be built for nothing."""
    code = (
        "import os, framework.cli\n"
        "from loguru import logger\n"
        "print(len(logger._core.handlers), os.environ.get('LOGURU_AUTOINIT'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LOGURU_AUTOINIT"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.split() == ["0", "None"]  # no handler, and the environment as it was


def test_importing_the_package_loads_no_module_until_a_name_is_used() -> None:
    code = "import sys, framework; print('framework.app' in sys.modules, framework.App.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "App"]
