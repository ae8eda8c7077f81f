"""Reading config files: regular files only, up to a size limit, as UTF-8 text.

Every read of a config file goes through here: Hydra's (compose hands it a file source that
reads this way), a reload's re-read of the edited files, and the content hash that confirms a
change. A FIFO would block its reader forever, a device (``/dev/zero``) or a huge file would
fill memory: neither is ever opened for reading, and the error names the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from framework.errors import CompositionError

DEFAULT_MAX_FILE_BYTES = 1 << 20  # 1 MiB: far more than any hand-written YAML file
LIMIT_HINT = "raise it with `integrate --max-file-bytes N` or ConfigSource(max_file_bytes=N)"
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def read_text(path: Path, limit: int) -> str:
    """The file as UTF-8 text; CompositionError naming it when it cannot be config (see
    ``read_bytes``) or is not UTF-8."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CompositionError(
            f"{path}:{line}:{column}: not UTF-8 text (byte {data[exc.start]:#04x});"
            " config files must be UTF-8: re-save the file in that encoding"
        ) from exc


def read_bytes(path: Path, limit: int) -> bytes:
    """The file's bytes, symlinks followed. CompositionError naming it when it is not a regular
    file (a FIFO, a device, a socket) or holds more than ``limit`` bytes; OSError when it is
    missing or unreadable. Nothing but a regular file is ever opened."""
    problem = file_problem(os.stat(path), limit)
    data = b""
    if problem is None:
        descriptor = os.open(path, _OPEN_FLAGS)  # never blocks, even if a FIFO took its place
        with os.fdopen(descriptor, "rb") as handle:
            problem = file_problem(os.fstat(descriptor), limit)  # replaced since the stat?
            if problem is None:
                data = handle.read(limit + 1)
                problem = _too_large(len(data), limit)  # it grew while being read
    if problem is not None:
        raise CompositionError(f"{_name(path)}: {problem}")
    return data


def file_problem(info: os.stat_result, limit: int) -> str | None:
    """Why a file with this status cannot be read as config, or None when it can."""
    if not stat.S_ISREG(info.st_mode):
        return (
            f"not a regular file but {_kind(info.st_mode)}; config files must be regular files"
            " (symlinks to regular files are followed)"
        )
    return _too_large(info.st_size, limit)


def _too_large(size: int, limit: int) -> str | None:
    if size <= limit:
        return None
    return (
        f"{_size(size)} ({size} bytes), over the {_size(limit)} limit for one config file;"
        f" split it, or {LIMIT_HINT}"
    )


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def _size(count: int) -> str:
    """``512 bytes``, ``1 MiB``, ``1.5 GiB``."""
    units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
    value = float(count)
    while value >= 1024 and len(units) > 1:
        value /= 1024
        units.pop(0)
    return f"{value:.4g} {units[0]}"


def _name(path: Path) -> str:
    """The path, and where it leads when it is a symlink (the target is what was refused)."""
    if os.path.islink(path):
        return f"{path} (a symlink to {os.path.realpath(path)})"
    return str(path)
