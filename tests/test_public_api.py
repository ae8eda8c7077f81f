"""The public API is exactly what `framework.__all__` lists."""

from __future__ import annotations

import importlib.util
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
        "framework.config.reload",
        "framework.health",
        "framework.resilience",
        "framework.http",
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
