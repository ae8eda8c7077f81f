"""Group options from the command line and the environment: only files inside their group.

Hydra reads a group option as a path under the group's folder, so ``profile=../../x`` or
``profile=/etc/x`` would load a YAML file from anywhere on the machine. Options are checked
before Hydra sees them, where each one's origin (argument or env var) is still known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, OverrideParseException

from framework.errors import CompositionError


def check_group_options(overrides: Sequence[tuple[str, str]], config_dir: Path) -> None:
    """Refuse any (origin, override) whose group option could name a file outside its group."""
    parser = OverridesParser.create()
    for origin, text in overrides:
        try:
            parsed = parser.parse_override(text)
        except (OverrideParseException, HydraException):
            continue  # Hydra reports it in its own words
        group = parsed.key_or_group
        if parsed.package is None and not _is_group(group, config_dir):
            continue  # a value, such as app.name=../x, is no path
        value = parsed.value()
        options = value if isinstance(value, list) else getattr(value, "list", [value])  # [a,b]; a,b
        for option in (o for o in options if isinstance(o, str)):
            reason = _escape(option)
            if reason:
                folder = config_dir / group
                known = sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))
                raise CompositionError(
                    f"{origin}: group option '{option}' of '{group}' {reason}; an option names a file"
                    f" in {folder}: {', '.join(known) or 'none there'}"
                )


def _is_group(key: str, config_dir: Path) -> bool:
    """Whether an override's key names a config group (``profile``, ``db/engine``)."""
    return "/" in key or (config_dir / key.replace(".", "/")).is_dir()


def _escape(option: str) -> str | None:
    """How an option, read as a path under its group folder, could lead out of it; None if not."""
    if option.startswith(("/", "\\")) or PureWindowsPath(option).drive:
        return "is an absolute path"
    if ".." in re.split(r"[/\\]", option):
        return "climbs out of the group folder with '..'"
    if "${" in option:
        return "is an interpolation, which could resolve to any path"
    return None
