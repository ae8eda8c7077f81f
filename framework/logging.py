"""Logging with loguru: readable or JSON lines, component bound, stdlib intercepted, secrets masked.

Masking happens twice: structured values (extras, the JSON line's fields) have their strings
masked before they are serialized, and the sink masks the fully formatted text, tracebacks
included; ``diagnose`` is off so loguru never prints local variables (which could hold secrets).
"""

from __future__ import annotations

import logging as stdlib_logging
import sys
import traceback
from typing import Any, TextIO

from loguru import logger

from framework.secrets import masker

TEXT_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[component]: <10}</cyan> {message}{extra[_details]}"
)


def configure(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    """(Re)configure the process's logging; safe to call again on reload."""
    out = stream or sys.stderr
    logger.remove()
    logger.configure(extra={"component": "app", "_details": ""}, patcher=_details)
    if fmt == "json":
        logger.add(lambda message: _write_json(message, out), level=level, diagnose=False, backtrace=False)
    else:
        logger.add(
            lambda message: _write_text(message, out),
            level=level,
            format=TEXT_FORMAT,
            colorize=out.isatty(),
            diagnose=False,
            backtrace=False,
        )
    stdlib_logging.basicConfig(handlers=[_InterceptHandler()], level=0, force=True)


def _write_text(message: Any, out: TextIO) -> None:
    out.write(masker(str(message)))


def _details(record: Any) -> None:
    """Show structured extras (event, changes, ...) after the message on text lines."""
    shown = {k: v for k, v in record["extra"].items() if k not in ("component", "_details")}
    record["extra"]["_details"] = f" {masker.dumps(shown)}" if shown else ""


def _write_json(message: Any, out: TextIO) -> None:
    record = message.record
    line: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "component": record["extra"].get("component", "app"),
        "message": record["message"],
    }
    line.update({k: v for k, v in record["extra"].items() if k not in ("component", "_details")})
    if record["exception"] is not None:
        exc = record["exception"]
        line["exception"] = "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))
    out.write(masker.dumps(line) + "\n")
    out.flush()


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
