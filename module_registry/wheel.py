"""Checks a wheel must pass before the registry accepts it; each refusal names its rule.

Rules: ``not-a-zip``, ``zip-slip`` (a member path with ``..``, an absolute path or a symlink),
``not-pure-python``, ``metadata`` (no readable ``*.dist-info/METADATA``), ``name-mismatch``,
``version-mismatch``, ``entry-point`` (the module of ``entry_points.main`` or an endpoint's
handler is not in the wheel). The size limit (``size-limit``) is the package store's.
"""

from __future__ import annotations

import io
import stat
import zipfile
from email.parser import HeaderParser
from pathlib import PurePosixPath

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from module_registry.errors import Invalid
from module_registry.manifest import Manifest


def refuse(rule: str, message: str) -> Invalid:
    """A 422 at the ``package`` field naming the rule."""
    return Invalid.at(["package"], f"{message} (rule: {rule})", rule)


def open_zip(data: bytes) -> zipfile.ZipFile:
    """The wheel as a zip, refused when it is not one."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        bad = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise refuse("not-a-zip", f"the package is not a readable zip archive: {exc}") from exc
    if bad is not None:
        raise refuse("not-a-zip", f"the package's member {bad!r} is corrupt")
    return archive


def escapes(info: zipfile.ZipInfo) -> str | None:
    """Why a member would land outside the folder it is unpacked into, or None."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "climbs out with '..'"
    return None


def check_members(archive: zipfile.ZipFile) -> None:
    """Refuse any member whose path escapes (zip-slip)."""
    for info in archive.infolist():
        reason = escapes(info)
        if reason:
            raise refuse("zip-slip", f"the package's member {info.filename!r} {reason}")


def check_wheel(data: bytes, filename: str, manifest: Manifest) -> None:
    """Every check but the size limit; raises ``Invalid`` naming the first rule broken."""
    archive = open_zip(data)
    with archive:
        check_members(archive)
        _check_filename(filename)
        names = set(archive.namelist())
        _check_metadata(archive, names, manifest)
        _check_module(names, manifest.main, "entry_points.main")
        for endpoint in manifest.endpoints:
            _check_module(names, endpoint.handler, f"endpoint {endpoint.method} {endpoint.path}")


def _check_filename(filename: str) -> None:
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise refuse("metadata", f"the package's file name is not a wheel's: {exc}") from exc
    if any(tag.abi != "none" or tag.platform != "any" for tag in tags):
        raise refuse(
            "not-pure-python", f"{filename} is built for a platform: only pure-Python wheels (none-any)"
        )


def _check_metadata(archive: zipfile.ZipFile, names: set[str], manifest: Manifest) -> None:
    found = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if len(found) != 1:
        raise refuse("metadata", "the package has no single *.dist-info/METADATA")
    headers = HeaderParser().parsestr(archive.read(found[0]).decode("utf-8", "replace"))
    name, version = headers.get("Name", ""), headers.get("Version", "")
    if canonicalize_name(name) != canonicalize_name(manifest.name):
        raise refuse("name-mismatch", f"the wheel is {name!r}, the manifest names {manifest.name!r}")
    if not _same_version(version, manifest.version):
        raise refuse(
            "version-mismatch", f"the wheel is version {version!r}, the manifest says {manifest.version!r}"
        )


def _same_version(wheel: str, manifest: str) -> bool:
    try:
        return Version(wheel) == Version(manifest)
    except InvalidVersion:
        return wheel == manifest


def _check_module(names: set[str], reference: str, what: str) -> None:
    module = reference.partition(":")[0].replace(".", "/")
    if f"{module}.py" not in names and f"{module}/__init__.py" not in names:
        raise refuse("entry-point", f"{what} names {reference!r}, but the package has no {module}.py")
