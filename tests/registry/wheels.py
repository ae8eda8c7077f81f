"""Wheels and manifests made for the tests: real zip files, well formed or broken one rule at a time."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from typing import Any

import httpx
from packaging.version import Version


def manifest(name: str, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    """A valid manifest for module ``name`` (package ``name`` with dashes as underscores)."""
    package = name.replace("-", "_")
    document: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": f"{name}, made by the tests",
        "author": "tests",
        "dependencies": [],
        "entry_points": {"main": f"{package}.component:Main"},
        "config_schema": {"type": "object"},
    }
    document.update(fields)
    return document


def wheel(
    name: str,
    version: str = "1.0.0",
    *,
    files: dict[str, str] | None = None,
    symlinks: dict[str, str] | None = None,
    metadata_name: str | None = None,
) -> tuple[str, bytes]:
    """A wheel's file name and bytes: ``<package>/component.py`` unless ``files`` says otherwise."""
    package, version = name.replace("-", "_"), str(Version(version))  # as a wheel spells it: 2.0.0rc1
    members = (
        files
        if files is not None
        else {f"{package}/__init__.py": "", f"{package}/component.py": "class Main: ...\n"}
    )
    info = f"{package}-{version}.dist-info"
    members = {
        **members,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {metadata_name or name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, text in members.items():
            archive.writestr(path, text)
        for path, target in (symlinks or {}).items():
            entry = zipfile.ZipInfo(path)
            entry.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(entry, target)
    return f"{package}-{version}-py3-none-any.whl", buffer.getvalue()


def publish(
    client: httpx.Client,
    document: dict[str, Any] | str,
    package: tuple[str, bytes] | None = None,
    visibility: str = "public",
) -> httpx.Response:
    """POST a manifest (and a wheel) to /modules/ as multipart form data."""
    text = document if isinstance(document, str) else json.dumps(document)
    files = {"package": (package[0], package[1], "application/octet-stream")} if package else None
    return client.post("/modules/", data={"manifest": text, "visibility": visibility}, files=files)


def published(
    client: httpx.Client, admin: httpx.Client | None, document: dict[str, Any], **options: Any
) -> dict[str, Any]:
    """Publish with a wheel (and approve, when ``admin`` is given); the module record."""
    response = publish(client, document, wheel(document["name"], document["version"]), **options)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    if admin is not None:
        answer = admin.patch(
            f"/modules/{record['id']}/status", json={"status": "approved", "reason": "tests"}
        )
        assert answer.status_code == 200, answer.text
        record = answer.json()
    return record
