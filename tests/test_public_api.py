"""The public API is exactly what `framework.__all__` lists."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import framework


def test_every_name_in_all_is_importable() -> None:
    """Each name in __all__ resolves (the lazy admin API names included)."""
    for name in framework.__all__:
        assert getattr(framework, name) is not None, name


def test_all_lists_every_public_export() -> None:
    """No public, non-module attribute of the package is missing from __all__."""
    public = {
        n for n, v in vars(framework).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
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


def test_the_type_checking_block_names_exactly_the_public_api() -> None:
    """Type checkers read the TYPE_CHECKING imports, the runtime reads _PUBLIC: both say the same."""
    source = Path(framework.__file__).read_text()
    block = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    seen: dict[str, set[str]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module, ast.unparse(node)
        for alias in node.names:
            assert alias.asname == alias.name, (
                f"{alias.name}: write `{alias.name} as {alias.name}` to re-export"
            )
            seen.setdefault(node.module, set()).add(alias.name)
    assert seen == {module: set(names) for module, names in framework._PUBLIC.items()}


# Exceptions that never leave the framework: caught where they are raised.
INTERNAL_EXCEPTIONS = {
    "framework.remote.AdminUnreachable",  # turned into the CLI's one-screen error and exit code
    "framework.config.watch.DirReplacedError",  # ends one watch; the reloader logs it and watches anew
    "framework.config.bounded_yaml.YamlLimitError",  # turned into a located CompositionError / EnvOverrideError
    "framework.reload.apply.StepFailed",  # turned into a rejected ReloadOutcome
    "framework.fleet.rollout.RolloutError",  # `integrate fleet` prints it and exits 1
    "framework.fleet.store.StaleWriterError",  # turned into a RolloutError by `integrate fleet`
    "framework.modules.client.RegistryUnavailableError",  # the modules check goes degraded; logged
}


def test_every_public_exception_is_reachable_from_the_package() -> None:
    """A user can catch whatever the framework raises at them without importing a private module."""
    missing = []
    for path in sorted(Path(framework.__file__).parent.rglob("*.py")):
        if path.name == "__main__.py":  # importing it runs the CLI
            continue
        parts = list(path.relative_to(Path(framework.__file__).parents[1]).with_suffix("").parts)
        module = importlib.import_module(".".join(p for p in parts if p != "__init__"))
        for name, value in vars(module).items():
            public = not name.startswith("_") and isinstance(value, type) and issubclass(value, BaseException)
            if public and value.__module__ == module.__name__:
                qualified = f"{module.__name__}.{name}"
                if qualified not in INTERNAL_EXCEPTIONS and getattr(framework, name, None) is not value:
                    missing.append(qualified)
    assert missing == []
