"""The ``logging`` config section: its Cerberus schema and its typed view.

The log file's rotation, retention and compression are read by loguru's own file sink, so they
are checked here by the very code ``logger.add`` runs on them: a value passes ``check`` exactly
when loguru would accept it, and loguru's reason is quoted in the error. loguru exposes no public
parser for them; ``FileSink``'s factory methods are that code, and
tests/test_log_settings.py pins them against ``logger.add`` so an upgrade that moves them fails
there, not in a user's launch.
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru._file_sink import FileSink

from framework.config.schema import Schema
from framework.logging import LogFile

LEVELS = ["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]
FORMATS = ["text", "json"]
# What loguru's file sink can compress a closed file into (its `compression` strings).
COMPRESSIONS = ["gz", "bz2", "xz", "lzma", "tar", "tar.gz", "tar.bz2", "tar.xz", "zip"]

ROTATIONS_ACCEPTED = (
    "a size ('10 MB', '500 KB'), an age ('1 day', '12 hours'), a time of day ('00:00',"
    " 'monday at 12:00'), hourly, daily, weekly, monthly, yearly, or null (never rotate)"
)
RETENTIONS_ACCEPTED = (
    "an age ('7 days', '2 weeks'), a count of rotated files to keep (10), or null (keep them all)"
)

# Cerberus calls a callable check_with as check(field, value, error); error(field, message).
_Report = Callable[[str, str], None]


def _check_rotation(field: str, value: Any, error: _Report) -> None:
    if isinstance(value, str):
        _check_with_loguru(FileSink._make_rotation_function, field, value, ROTATIONS_ACCEPTED, error)


def _check_retention(field: str, value: Any, error: _Report) -> None:
    if isinstance(value, bool):  # Cerberus counts a boolean as an integer; loguru would keep 1 file
        error(field, f"is a boolean, not a count of files; accepted: {RETENTIONS_ACCEPTED}")
    elif isinstance(value, str):
        _check_with_loguru(FileSink._make_retention_function, field, value, RETENTIONS_ACCEPTED, error)


def _check_with_loguru(
    parse: Callable[[str], object], field: str, value: str, accepted: str, error: _Report
) -> None:
    try:
        parse(value)
    except ValueError as exc:  # loguru's reason names the part it could not read
        error(field, f"loguru cannot read it ({exc}); accepted: {accepted}")


def _check_path(field: str, value: Any, error: _Report) -> None:
    """A file loguru can create or append to, judged now, before anything runs.

    loguru creates missing folders, so the nearest folder that exists must let us write. A
    FIFO or a device is refused too: opening one for append can block or write nowhere.
    """
    if not isinstance(value, str):
        return
    problem = _name_problem(value) or _file_problem(Path(os.path.abspath(value)))
    if problem:
        error(field, problem)


def _name_problem(path: str) -> str | None:
    """loguru fills ``{time}`` (``{time:YYYY-MM-DD}``) into a file name; any other field fails at open."""
    if "\0" in path:
        return "holds a NUL character, which no file name can"
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(path) if name is not None}
    except ValueError as exc:
        return f"has unbalanced braces ({exc}); only {{time}} may stand in braces, as in app_{{time}}.log"
    if fields - {"time"}:
        return "only {time} may stand in braces (loguru's placeholder, as in app_{time:YYYY-MM-DD}.log)"
    return None


def _file_problem(path: Path) -> str | None:
    if path.is_dir():
        return "is a directory; give a file path in it, such as logs/app.log"
    if path.exists():
        if not path.is_file():
            return "is not a regular file (a FIFO or a device, say); give a path to a log file"
        return None if os.access(path, os.W_OK) else "is a file this process may not write to"
    folder = path.parent
    while not folder.exists():  # loguru makes the missing folders: the first one that exists decides
        folder = folder.parent
    if not folder.is_dir():
        return f"cannot be created: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot be created: this process may not write to the folder {folder}"
    return None


def _null_means_off(value: Any) -> Any:
    """`logging.file: null` turns the file off, like leaving out `path`."""
    return {} if value is None else value


FILE_SCHEMA: Schema = {
    "path": {
        "type": "string",
        "nullable": True,
        "empty": False,
        "check_with": _check_path,
        "default": None,
        "description": "write the log to this file too (relative to the working directory); null: no file",
    },
    "rotation": {
        "type": "string",
        "nullable": True,
        "check_with": _check_rotation,
        "default": "10 MB",
        "description": "start a new file past this size or age, or at this time: '10 MB', '1 day', 'daily', '00:00'",
    },
    "retention": {
        "type": ["string", "integer"],
        "nullable": True,
        "min": 0,
        "check_with": _check_retention,
        "default": "7 days",
        "description": "delete rotated files older than this ('7 days') or beyond this count (10)",
    },
    "compression": {
        "type": "string",
        "nullable": True,
        "allowed": COMPRESSIONS,
        "default": None,
        "description": "compress each rotated file: gz, zip, ...; null leaves them as they are",
    },
    "level": {
        "type": "string",
        "nullable": True,
        "allowed": LEVELS,
        "coerce": "upper",
        "default": None,
        "description": "the file's own level; null: the console's (logging.level or --log-level)",
    },
    "format": {
        "type": "string",
        "nullable": True,
        "allowed": FORMATS,
        "default": None,
        "description": "text or json; null: the console's (logging.format or --log-format)",
    },
}

LOGGING_SCHEMA: Schema = {
    "level": {"type": "string", "allowed": LEVELS, "coerce": "upper", "default": "INFO"},
    "format": {"type": "string", "allowed": FORMATS, "default": "text"},
    "file": {
        "type": "dict",
        "nullable": True,
        "coerce": _null_means_off,
        "default": {},
        "schema": FILE_SCHEMA,
        "description": "a log file beside the console, rotated and pruned by loguru; off unless path is set",
    },
}


@dataclass(frozen=True)
class LogSettings:
    """What the process logs where: the console's level and format, and the log file, if any."""

    level: str = "INFO"
    format: str = "text"
    file: LogFile | None = None

    @classmethod
    def from_section(
        cls, section: Mapping[str, Any], level: str | None = None, fmt: str | None = None
    ) -> LogSettings:
        """From a normalized ``logging`` section; ``level`` and ``fmt`` (--log-level,
        --log-format) beat it. The file follows the console unless it names its own."""
        level, fmt = level or section["level"], fmt or section["format"]
        file = section["file"]
        if file["path"] is None:
            return cls(level, fmt)
        return cls(
            level,
            fmt,
            LogFile(
                path=file["path"],
                level=file["level"] or level,
                format=file["format"] or fmt,
                rotation=file["rotation"],
                retention=file["retention"],
                compression=file["compression"],
            ),
        )
