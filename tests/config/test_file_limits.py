"""Config files are read only when regular, within the size limit, UTF-8 and not too deep.

Anything else in the config dir, or a value that nests without end (in a file, an env var or
an argument), is a one-screen error naming its source with exit 2; never a hang, a memory
blow-up or a traceback. Files the config does not use are never read, so they stop nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from framework.testing import integrate, write_tree

BASE = {
    "config.yaml": """
        defaults:
          - db: sqlite
          - _self_
        app:
          name: limits
          env_prefix: LIM
          duration: 0.2
        """,
    "db/sqlite.yaml": "driver: sqlite\n",
}
LIMIT = 1 << 20  # the documented default of --max-file-bytes
DEPTH = 32  # the documented nesting limit


@pytest.fixture
def project(config_dir: Path) -> Path:
    write_tree(config_dir, BASE)
    return config_dir.parent


def fails(cwd: Path, *args: str, verb: str = "check", env: dict[str, str] | None = None) -> str:
    """The one-screen error of `integrate VERB`, which must end within seconds with exit 2
    (the subprocess timeout turns a hang into a failure)."""
    result = integrate(verb, *args, cwd=cwd, env=env, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.splitlines()) < 25
    return result.stderr


def replace(path: Path, make: str) -> None:
    """Put a FIFO or a symlink to /dev/zero where a config file was."""
    path.unlink()
    if make == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.parametrize(
    ("make", "kind"), [("fifo", "a named pipe (FIFO)"), ("device", "a character device")]
)
@pytest.mark.parametrize("name", ["db/sqlite.yaml", "config.yaml"])
def test_a_special_file_the_config_uses_is_refused_unread(
    project: Path, make: str, kind: str, name: str
) -> None:
    """A FIFO (which blocked its reader forever) or /dev/zero (which filled memory) in place of
    a config file, the primary one included, is refused naming the file and what is accepted."""
    replace(project / "conf" / name, make)
    err = fails(project)
    assert f"conf/{name}" in err and f"not a regular file but {kind}" in err
    assert "config files must be regular files" in err
    if make == "device":
        assert "(a symlink to /dev/zero)" in err


def test_run_refuses_a_fifo_config_file_at_once(project: Path) -> None:
    """`integrate run` with a FIFO for a config file it uses ends with the error, not a hang."""
    replace(project / "conf/db/sqlite.yaml", "fifo")
    assert "conf/db/sqlite.yaml: not a regular file but a named pipe (FIFO)" in fails(project, verb="run")


@pytest.mark.parametrize("make", ["fifo", "device"])
def test_special_files_the_config_does_not_use_stop_nothing(project: Path, make: str) -> None:
    """`integrate run` starts, runs and stops with a FIFO or /dev/zero beside the config files
    (the content hash that confirms edits reads only regular files)."""
    (project / "conf/db/spare.yaml").write_text("driver: spare\n")
    replace(project / "conf/db/spare.yaml", make)
    result = integrate("run", cwd=project, timeout=30)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "all components stopped" in result.stderr


def test_a_file_over_the_size_limit_is_refused_unread(project: Path) -> None:
    """A file larger than --max-file-bytes (1 MiB by default) is refused with its size and the
    flag that sets the limit; the flag lowers or raises it."""
    big = project / "conf/db/sqlite.yaml"
    big.write_text("driver: sqlite\n" + "#" * LIMIT)
    err = fails(project)
    assert "conf/db/sqlite.yaml: 1 MiB (1048591 bytes), over the 1 MiB limit for one config file" in err
    assert "--max-file-bytes" in err
    big.write_text("driver: sqlite\n" + "#" * 3000)
    assert "(3015 bytes), over the 1000 bytes limit" in fails(project, "--max-file-bytes", "1000")
    result = integrate("check", "--max-file-bytes", "4000", cwd=project)
    assert result.returncode == 0, result.stderr


def test_a_huge_file_the_config_does_not_use_is_never_read(project: Path) -> None:
    """`integrate run` with a sparse 64 GiB file beside the config never reads it."""
    with open(project / "conf/db/huge.yaml", "wb") as handle:
        handle.truncate(64 << 30)
    result = integrate("run", cwd=project, timeout=30)
    assert result.returncode == 0, result.stderr[-2000:]


def test_bytes_that_are_not_utf8_name_the_file_line_and_column(project: Path) -> None:
    """A file that is not UTF-8 (Latin-1, say) is refused at file:line:column, not a traceback."""
    (project / "conf/db/sqlite.yaml").write_bytes("driver: sqlite\nname: caf\xe9\n".encode("latin-1"))
    err = fails(project)
    assert "conf/db/sqlite.yaml:2:10: not UTF-8 text (byte 0xe9)" in err


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [DEPTH, 150, 1000])
def test_a_file_nesting_too_deep_is_refused_naming_it(project: Path, depth: int) -> None:
    """Lists or mappings nested past the limit in a file (a RecursionError traceback before,
    from PyYAML or OmegaConf by depth) are refused naming the file."""
    (project / "conf/db/sqlite.yaml").write_text(f"driver: sqlite\npool: {nested(depth - 1)}\n")  # + root, db
    err = fails(project)
    # where the file itself passes the limit, the error points there: file:line:column
    assert re.search(rf"conf/db/sqlite\.yaml(:2:\d+)?: mappings and lists nest more than {DEPTH} levels", err), err
    mappings = "{a: " * depth + "1" + "}" * depth
    (project / "conf/db/sqlite.yaml").write_text(f"pool: {mappings}\n")
    assert re.search(r"conf/db/sqlite\.yaml(:1:\d+)?: mappings and lists nest more", fails(project))


def test_a_file_value_that_contains_itself_is_refused_naming_it(project: Path) -> None:
    """A YAML alias of the node that holds it (`&a [*a]`) in a file is refused naming the file."""
    (project / "conf/db/sqlite.yaml").write_text("driver: sqlite\npool: &a [*a]\n")
    assert "conf/db/sqlite.yaml:2:7: mappings and lists nest more" in fails(project)


def test_nesting_at_the_limit_is_accepted(project: Path) -> None:
    """A file nested exactly to the limit composes: the root, `db` and 30 lists are 32 levels."""
    (project / "conf/db/sqlite.yaml").write_text(f"driver: sqlite\npool: {nested(DEPTH - 2)}\n")
    result = integrate("check", cwd=project)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("value", ["&a [*a]", "&a {x: *a}", nested(DEPTH + 1), nested(150), nested(1000)])
def test_an_env_value_that_nests_without_end_is_refused_naming_the_variable(
    project: Path, value: str
) -> None:
    """An env value that refers to itself or nests too deep is refused naming the variable
    and saying which of the two, without echoing the value."""
    err = fails(project, env={"LIM__DB__DRIVER": value})
    assert f"env var LIM__DB__DRIVER: mappings and lists nest more than {DEPTH} levels" in err
    assert ("refers to itself through a YAML alias" in err) == ("*a" in value) and value not in err


@pytest.mark.parametrize("depth", [DEPTH + 1, 150, 1000])
def test_an_argument_nesting_too_deep_is_refused_naming_it(project: Path, depth: int) -> None:
    """A command-line override nested too deep is refused naming the argument's key."""
    err = fails(project, f"db.driver={nested(depth)}")
    assert f"argument db.driver=...: mappings and lists nest more than {DEPTH} levels" in err


def test_the_size_limit_takes_a_positive_number(project: Path) -> None:
    """--max-file-bytes refuses what is not a positive number of bytes, as a usage error."""
    result = integrate("check", "--max-file-bytes", "1MB", cwd=project)
    assert result.returncode == 2 and "expected a positive number of bytes, got '1MB'" in result.stderr
