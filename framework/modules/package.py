"""A module's package: a pure-Python wheel, checked before anything in it is kept or imported.

The same checks run where a wheel is uploaded (the module registry) and where it is unpacked
(an app installing it), so a package an app runs passed them twice. Each refusal names its
rule. A wheel is a zip (PEP 427); nothing here executes or imports any of it.
"""

from __future__ import annotations

import email.parser
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

EXPANSION_LIMIT = 20  # a package may unpack to at most this many times its size: no zip bombs


class PackageRefusedError(ValueError):
    """Raised when a package breaks one of the rules; ``rule`` names it."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"package refused ({rule}): {detail}")
        self.rule, self.detail = rule, detail


@dataclass(frozen=True)
class WheelInfo:
    """What a checked wheel holds."""

    name: str  # its distribution name, as its METADATA spells it
    version: str
    sha256: str
    size: int
    files: frozenset[str]  # member paths


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inspect_wheel(data: bytes, max_bytes: int) -> WheelInfo:
    """The wheel's name, version and files, once it passed every rule but the manifest's."""
    if len(data) > max_bytes:
        raise PackageRefusedError("size-limit", f"{len(data)} bytes is over the limit of {max_bytes}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
        corrupt = archive.testzip()  # reads every member: a CRC that does not match is caught here
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, OSError) as exc:
        raise PackageRefusedError("not-a-zip", f"not a readable zip archive ({exc})") from None
    if corrupt is not None:
        archive.close()
        raise PackageRefusedError("not-a-zip", f"member {corrupt!r} is corrupt")
    with archive:
        unpacked = 0
        for member in members:
            _check_member(member)
            unpacked += member.file_size
        if unpacked > max(max_bytes, len(data)) * EXPANSION_LIMIT:
            raise PackageRefusedError("size-limit", f"unpacks to {unpacked} bytes, over {EXPANSION_LIMIT}x its limit")
        name, version = _metadata(archive, [m.filename for m in members])
    return WheelInfo(name, version, sha256_of(data), len(data), frozenset(m.filename for m in members))


def check_manifest(info: WheelInfo, name: str, version: str, entry_points: Iterable[str]) -> None:
    """The wheel is the manifest's: same name and version, and each ``pkg.mod:attr`` module in it."""
    if canonicalize_name(info.name) != canonicalize_name(name):
        raise PackageRefusedError("name-mismatch", f"the wheel is '{info.name}', the manifest names '{name}'")
    if not _same_version(info.version, version):
        raise PackageRefusedError("version-mismatch", f"the wheel is version {info.version}, the manifest says {version}")
    for ref in entry_points:
        module = ref.partition(":")[0]
        path = module.replace(".", "/")
        if f"{path}.py" not in info.files and f"{path}/__init__.py" not in info.files:
            raise PackageRefusedError("entry-point", f"'{ref}': the wheel has no {path}.py nor {path}/__init__.py")


def check_wheel_filename(filename: str) -> None:
    """A wheel's file name (PEP 427), for a pure-Python wheel: tags ``none-any`` only."""
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise PackageRefusedError("metadata", f"the file name is not a wheel's: {exc}") from None
    if any(tag.abi != "none" or tag.platform != "any" for tag in tags):
        raise PackageRefusedError("not-pure-python", f"{filename} is built for a platform: only pure-Python wheels (none-any)")


def unpack_wheel(data: bytes, info: WheelInfo, destination: Path) -> Path:
    """Unpack a checked wheel into ``destination`` (made whole, then renamed into place)."""
    if destination.is_dir():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                _check_member(member)  # again: ``info`` might not describe these bytes
                target = staging / member.filename
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
        os.replace(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if not destination.is_dir():
            raise
    return destination


def _check_member(member: zipfile.ZipInfo) -> None:
    """No member may land outside the folder it is unpacked in: zip-slip, in each of its forms."""
    name = member.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or path.is_absolute():
        raise PackageRefusedError("zip-slip", f"member '{name}' is an absolute path")
    if ".." in path.parts:
        raise PackageRefusedError("zip-slip", f"member '{name}' climbs out of its folder ('..')")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise PackageRefusedError("zip-slip", f"member '{name}' is a symbolic link")
    if "\x00" in name:
        raise PackageRefusedError("zip-slip", f"member '{name!r}' holds a NUL character")


def _metadata(archive: zipfile.ZipFile, names: list[str]) -> tuple[str, str]:
    found = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if len(found) != 1:
        raise PackageRefusedError("metadata", "a wheel holds exactly one <name>.dist-info/METADATA")
    try:
        text = archive.read(found[0]).decode("utf-8")
    except (UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
        raise PackageRefusedError("metadata", f"{found[0]} is unreadable ({exc})") from None
    message = email.parser.Parser().parsestr(text, headersonly=True)
    name, version = message.get("Name"), message.get("Version")
    if not name or not version:
        raise PackageRefusedError("metadata", f"{found[0]} lacks Name or Version")
    return str(name), str(version)


def _same_version(left: str, right: str) -> bool:
    try:
        return Version(left) == Version(right)
    except InvalidVersion:
        return left == right
