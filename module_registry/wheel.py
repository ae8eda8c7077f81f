"""Checks a wheel must pass before the registry accepts it; each refusal names its rule.

They are the framework's package rules (``framework.inspect_wheel``), the very ones an
installing app runs again before it unpacks the wheel: ``not-a-zip``, ``zip-slip`` (a member
path with ``..``, an absolute path or a symlink), ``size-limit`` (also a zip bomb),
``not-pure-python``, ``metadata``, ``name-mismatch``, ``version-mismatch`` and ``entry-point``
(the module of ``entry_points.main`` or of an endpoint's handler is not in the wheel).
"""

from __future__ import annotations

from framework import PackageRefusedError, check_manifest, check_wheel_filename, inspect_wheel
from module_registry.errors import Invalid
from module_registry.manifest import Manifest


def refuse(rule: str, message: str) -> Invalid:
    """A 422 at the ``package`` field naming the rule."""
    return Invalid.at(["package"], f"{message} (rule: {rule})", rule)


def check_wheel(data: bytes, filename: str, manifest: Manifest, max_size: int) -> None:
    """Every rule; raises ``Invalid`` naming the first one broken."""
    try:
        info = inspect_wheel(data, max_size)
        check_wheel_filename(filename)
        check_manifest(info, manifest.name, manifest.version, [manifest.main, *(e.handler for e in manifest.endpoints)])
    except PackageRefusedError as exc:
        raise refuse(exc.rule, f"the package is refused: {exc.detail}") from None
