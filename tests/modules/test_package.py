"""The package rules a wheel passes before a registry keeps it or an app unpacks it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from framework import PackageRefusedError, check_manifest, inspect_wheel
from framework.modules.package import unpack_wheel
from tests.modules.wheels import symlink_member, wheel_bytes

LIMIT = 1_000_000


def test_a_well_formed_wheel_is_described_and_unpacked(tmp_path: Path) -> None:
    data = wheel_bytes()
    info = inspect_wheel(data, LIMIT)
    assert (info.name, info.version, info.size) == ("echo_module", "1.0.0", len(data))
    check_manifest(info, "echo-module", "1.0.0", ["echo_module.component:Echo"])
    folder = unpack_wheel(data, info, tmp_path / "echo-module-1.0.0")
    assert (folder / "echo_module" / "component.py").read_text() == "class Echo: ...\n"
    assert [p.name for p in tmp_path.iterdir()] == ["echo-module-1.0.0"]  # no staging folder left


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (zipfile.ZipInfo("../evil.py"), "climbs out"),
        (zipfile.ZipInfo("echo_module/../../evil.py"), "climbs out"),
        (zipfile.ZipInfo("/etc/evil.py"), "absolute"),
        (zipfile.ZipInfo("C:/evil.py"), "absolute"),
        (symlink_member("echo_module/link"), "symbolic link"),
    ],
)
def test_a_member_that_could_land_outside_is_refused(member: zipfile.ZipInfo, words: str) -> None:
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(wheel_bytes(extra=[member]), LIMIT)
    assert caught.value.rule == "safe-paths" and words in str(caught.value)


def test_unpacking_checks_again_and_leaves_nothing(tmp_path: Path) -> None:
    good = inspect_wheel(wheel_bytes(), LIMIT)
    with pytest.raises(PackageRefusedError):  # bytes that are not the ones described
        unpack_wheel(wheel_bytes(extra=[zipfile.ZipInfo("../evil.py")]), good, tmp_path / "x")
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "evil.py").exists()


def test_not_a_zip_and_over_the_limit_are_refused_by_rule() -> None:
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(b"this is not a zip archive", LIMIT)
    assert caught.value.rule == "readable-zip"
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(wheel_bytes(), 100)
    assert caught.value.rule == "size-limit" and "over the limit of 100" in str(caught.value)


def test_a_zip_bomb_is_refused() -> None:
    data = wheel_bytes(files={"echo_module/__init__.py": "#" * 5_000_000})
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(data, 100_000)
    assert caught.value.rule == "size-limit" and "unpacks to" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "version", "entry", "rule"),
    [
        ("other-module", "1.0.0", "echo_module.component:Echo", "name-match"),
        ("echo-module", "1.0.1", "echo_module.component:Echo", "version-match"),
        ("echo-module", "1.0.0", "echo_module.missing:Echo", "entry-point"),
    ],
)
def test_the_wheel_must_be_the_manifests(name: str, version: str, entry: str, rule: str) -> None:
    info = inspect_wheel(wheel_bytes(), LIMIT)
    with pytest.raises(PackageRefusedError) as caught:
        check_manifest(info, name, version, [entry])
    assert caught.value.rule == rule


def test_a_wheel_without_metadata_is_refused() -> None:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("echo_module/__init__.py", "")
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(buffer.getvalue(), LIMIT)
    assert caught.value.rule == "wheel-metadata"
