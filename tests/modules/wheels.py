"""Wheels built as a wheel is (PEP 427: a zip with a .dist-info), to feed the package rules."""

from __future__ import annotations

import io
import stat
import zipfile


def wheel_bytes(
    name: str = "echo_module",
    version: str = "1.0.0",
    files: dict[str, str] | None = None,
    extra: list[zipfile.ZipInfo] | None = None,
) -> bytes:
    """A pure-Python wheel holding ``files`` (path -> text) and its METADATA."""
    files = files if files is not None else {f"{name}/__init__.py": "", f"{name}/component.py": "class Echo: ...\n"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        info = f"{name}-{version}.dist-info"
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        for member in extra or ():
            archive.writestr(member, "payload")
    return buffer.getvalue()


def symlink_member(path: str) -> zipfile.ZipInfo:
    member = zipfile.ZipInfo(path)
    member.external_attr = (stat.S_IFLNK | 0o777) << 16
    return member
