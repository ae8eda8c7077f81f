"""Logging with loguru: readable or JSON lines, component bound, stdlib intercepted, secrets masked.

Lines go to the console and, when ``logging.file.path`` is set, to a file that loguru's own file
sink rotates, prunes and compresses. Masking happens twice on both: structured values (extras,
the JSON line's fields) have their strings masked before they are serialized, and the finished
text, tracebacks included, goes through the process's masker; ``diagnose`` is off so loguru
never prints local variables (which could hold secrets).
"""

from __future__ import annotations

import logging as stdlib_logging
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TextIO

from loguru import logger

from framework.secrets import masker

TEXT_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[component]: <10}</cyan> {message}{extra[_details]}"
)
# A file is read later and elsewhere: its lines carry the date and no colour codes.
FILE_TEXT_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {extra[component]: <10} {message}{extra[_details]}"
# Extras that are not the record's details: the component has its own column, the rest are ours.
_NOT_DETAILS = frozenset({"component", "_details", "_file_line"})


@dataclass(frozen=True)
class LogFile:
    """Where and how the log is written to a file: the arguments of loguru's file sink, with
    loguru's defaults (the `logging.file` section has the framework's)."""

    path: str
    level: str = "INFO"
    format: str = "text"
    rotation: str | None = None
    retention: str | int | None = None
    compression: str | None = None


@dataclass
class _Handlers:
    """The loguru handlers this module added: the console's, and the open log file's."""

    console: int | None = None
    file: tuple[LogFile, int] | None = None


_installed = _Handlers()


def configure(
    level: str = "INFO", fmt: str = "text", stream: TextIO | None = None, file: LogFile | None = None
) -> None:
    """(Re)configure the process's logging; safe to call again on reload.

    The log file is switched first: one that cannot be opened raises (an OSError) and leaves the
    logging as it was. An unchanged file stays open, so a reload never cuts it short.
    """
    if _installed.console is None and _installed.file is None:  # first call: drop loguru's default
        logger.remove()
    _switch_file(file)
    out = stream or sys.stderr
    if _installed.console is not None:
        _remove(_installed.console)
    logger.configure(extra={"component": "app", "_details": ""}, patcher=_details)
    if fmt == "json":
        _installed.console = logger.add(
            lambda message: _write_json(message, out), level=level, diagnose=False, backtrace=False
        )
    else:
        _installed.console = logger.add(
            lambda message: _write_text(message, out),
            level=level,
            format=TEXT_FORMAT,
            colorize=out.isatty(),
            diagnose=False,
            backtrace=False,
        )
    stdlib_logging.basicConfig(handlers=[_InterceptHandler()], level=0, force=True)


def reset() -> None:
    """Remove the handlers ``configure`` added, closing the log file (tests start clean)."""
    for handler in (_installed.console, _installed.file and _installed.file[1]):
        if handler is not None:
            _remove(handler)
    _installed.console = _installed.file = None


def _switch_file(wanted: LogFile | None) -> None:
    """Open the wanted log file before closing the current one, so a failure changes nothing."""
    current = _installed.file
    if current is not None and current[0] == wanted:
        return
    if current is not None and (wanted is None or _same_file(current[0], wanted)):
        _reopen(current, wanted)
        return
    opened = None if wanted is None else (wanted, _open_file(wanted))
    if current is not None:
        _remove(current[1])
    _installed.file = opened


def _reopen(current: tuple[LogFile, int], wanted: LogFile | None) -> None:
    """Close the file, then open it with its new settings, if any.

    Closing first, because two handles on one file would each rotate, compress or prune it under
    the other. Should it fail to open again, the last good settings are put back.
    """
    _remove(current[1])
    _installed.file = None
    if wanted is None:
        return
    try:
        _installed.file = (wanted, _open_file(wanted))
    except Exception:
        _installed.file = (current[0], _open_file(current[0]))
        raise


def _same_file(one: LogFile, other: LogFile) -> bool:
    return os.path.abspath(one.path) == os.path.abspath(other.path)


def _open_file(settings: LogFile) -> int:
    """A loguru file sink: loguru rotates, prunes and compresses; lines arrive masked."""
    return logger.add(
        settings.path,
        level=settings.level,
        format=_file_formatter(settings.format),
        rotation=settings.rotation,
        retention=settings.retention,
        compression=settings.compression,
        colorize=False,
        diagnose=False,
        backtrace=False,
        encoding="utf-8",
    )


def _file_formatter(fmt: str) -> Callable[[Any], str]:
    """A loguru format function whose line is rendered and masked here, not by loguru.

    loguru writes what the returned template makes of the record; the finished line rides in
    the record's extras (loguru's documented way to give a file sink a custom line).
    """
    render = _json_line if fmt == "json" else _text_file_line

    def format_line(record: Any) -> str:
        record["extra"]["_file_line"] = render(record)
        return "{extra[_file_line]}\n"

    return format_line


def _remove(handler: int) -> None:
    with suppress(ValueError):  # already removed by someone else (a test's logger.remove())
        logger.remove(handler)


def _write_text(message: Any, out: TextIO) -> None:
    out.write(masker(str(message)))


def _text_file_line(record: Any) -> str:
    text = FILE_TEXT_FORMAT.format_map(record)
    if record["exception"] is not None:
        text += "\n" + _traceback_text(record["exception"]).rstrip("\n")
    return masker(text)


def _details(record: Any) -> None:
    """Show structured extras (event, changes, ...) after the message on text lines."""
    shown = {k: v for k, v in record["extra"].items() if k not in _NOT_DETAILS}
    record["extra"]["_details"] = f" {masker.dumps(shown)}" if shown else ""


def _write_json(message: Any, out: TextIO) -> None:
    out.write(_json_line(message.record) + "\n")
    out.flush()


def _json_line(record: Any) -> str:
    line: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "component": record["extra"].get("component", "app"),
        "message": record["message"],
    }
    line.update({k: v for k, v in record["extra"].items() if k not in _NOT_DETAILS})
    if record["exception"] is not None:
        line["exception"] = _traceback_text(record["exception"])
    return masker.dumps(line)


def _traceback_text(exc: Any) -> str:
    return "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))


class _InterceptHandler(stdlib_logging.Handler):
    """Route the standard library's logging (libraries' logs) through loguru."""

    def emit(self, record: stdlib_logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).bind(component=record.name).log(
            level, record.getMessage()
        )
