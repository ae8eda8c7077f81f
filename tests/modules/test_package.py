"""The package rules a wheel passes before a registry keeps it or an app unpacks it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from framework import PackageRefusedError, check_manifest, check_wheel_filename, inspect_wheel
from framework.modules.package import unpack_wheel
from tests.registry.wheels import wheel

LIMIT = 1_000_000
ECHO = {"echo_module/__init__.py": "", "echo_module/component.py": "class Echo: ...\n"}


def _echo(**members: str) -> bytes:
    return wheel("echo-module", files={**ECHO, **members})[1]


def test_a_well_formed_wheel_is_described_and_unpacked(tmp_path: Path) -> None:
    data = _echo()
    info = inspect_wheel(data, LIMIT)
    assert (info.name, info.version, info.size) == ("echo-module", "1.0.0", len(data))
    check_manifest(info, "echo-module", "1.0.0", ["echo_module.component:Echo"])
    folder = unpack_wheel(data, info, tmp_path / "echo-module-1.0.0")
    assert (folder / "echo_module" / "component.py").read_text() == "class Echo: ...\n"
    assert [p.name for p in tmp_path.iterdir()] == ["echo-module-1.0.0"]  # no staging folder left


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("../evil.py", "climbs out"),
        ("echo_module/../../evil.py", "climbs out"),
        ("/etc/evil.py", "absolute"),
        ("C:/evil.py", "absolute"),
    ],
)
def test_a_member_that_could_land_outside_is_refused(path: str, words: str) -> None:
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(_echo(**{path: "print('out')"}), LIMIT)
    assert caught.value.rule == "zip-slip" and words in str(caught.value)


def test_a_symbolic_link_is_refused() -> None:
    data = wheel("echo-module", files=ECHO, symlinks={"echo_module/link": "/etc/passwd"})[1]
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(data, LIMIT)
    assert caught.value.rule == "zip-slip" and "symbolic link" in str(caught.value)


def test_unpacking_checks_again_and_leaves_nothing(tmp_path: Path) -> None:
    good = inspect_wheel(_echo(), LIMIT)
    with pytest.raises(PackageRefusedError):  # bytes that are not the ones described
        unpack_wheel(_echo(**{"../evil.py": ""}), good, tmp_path / "x")
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "evil.py").exists()


def test_not_a_zip_and_over_the_limit_are_refused_by_rule() -> None:
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(b"this is not a zip archive", LIMIT)
    assert caught.value.rule == "not-a-zip"
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(_echo(), 100)
    assert caught.value.rule == "size-limit" and "over the limit of 100" in str(caught.value)


def test_a_zip_bomb_is_refused() -> None:
    data = _echo(**{"echo_module/padding.py": "#" * 3_000_000})
    assert len(data) < 100_000
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(data, 100_000)
    assert caught.value.rule == "size-limit" and "unpacks to" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "version", "entry", "rule"),
    [
        ("other-module", "1.0.0", "echo_module.component:Echo", "name-mismatch"),
        ("echo-module", "1.0.1", "echo_module.component:Echo", "version-mismatch"),
        ("echo-module", "1.0.0", "echo_module.missing:Echo", "entry-point"),
    ],
)
def test_the_wheel_must_be_the_manifests(name: str, version: str, entry: str, rule: str) -> None:
    info = inspect_wheel(_echo(), LIMIT)
    with pytest.raises(PackageRefusedError) as caught:
        check_manifest(info, name, version, [entry])
    assert caught.value.rule == rule


def test_only_a_pure_python_wheel_name_passes() -> None:
    check_wheel_filename("echo_module-1.0.0-py3-none-any.whl")
    with pytest.raises(PackageRefusedError) as caught:
        check_wheel_filename("echo_module-1.0.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert caught.value.rule == "not-pure-python"


def test_a_wheel_without_metadata_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("echo_module/__init__.py", "")
    with pytest.raises(PackageRefusedError) as caught:
        inspect_wheel(buffer.getvalue(), LIMIT)
    assert caught.value.rule == "metadata"
