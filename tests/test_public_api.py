"""The public API is exactly what `framework.__all__` lists."""

from __future__ import annotations

import types

import framework


def test_every_name_in_all_is_importable() -> None:
    """Each name in __all__ resolves (the lazy admin API names included)."""
    for name in framework.__all__:
        assert getattr(framework, name) is not None, name


def test_all_lists_every_public_export() -> None:
    """No public, non-module attribute of the package is missing from __all__."""
    public = {n for n, v in vars(framework).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    public.discard("Any")
    assert public <= set(framework.__all__), public - set(framework.__all__)
    assert framework.__all__ == sorted(framework.__all__)


def test_errors_subclass_the_nearest_builtin() -> None:
    """Users can catch framework errors with the builtin they resemble."""
    assert issubclass(framework.UnknownKeyError, KeyError)
    assert issubclass(framework.ClassNotAllowedError, PermissionError)
    assert issubclass(framework.ValidationError, ValueError)
    assert issubclass(framework.RequestTimeoutError, TimeoutError)
