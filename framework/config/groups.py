"""Group options from the command line and the environment: only files inside their group.

Hydra reads a group option as a path under the group's folder, so ``profile=../../x`` or
``profile=/etc/x`` would load a YAML file from anywhere on the machine. Options are checked
before Hydra sees them, where each one's origin (argument or env var) is still known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PureWindowsPath

from framework.errors import CompositionError


def check_group_options(overrides: Sequence[tuple[str, str]], config_dir: Path) -> None:
    """Refuse any (origin, override) whose group option could name a file outside its group."""
    if not overrides:
        return  # Hydra's override grammar is imported only to parse some
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException, OverrideParseException

    parser = OverridesParser.create()
    for origin, text in overrides:
        try:
            parsed = parser.parse_override(text)
        except (OverrideParseException, HydraException):
            continue  # Hydra reports it in its own words
        group = parsed.key_or_group
        if not group:  # Hydra reads `=5` as the root group and fails with a bare ValueError
            raise CompositionError(f"{origin}: no key before '='; an override is key=value")
        if parsed.package is None and not _is_group(group, config_dir):
            continue  # a value, such as app.name=../x, is no path
        if parsed.is_delete():
            continue  # ~group drops the group's default: no option to check
        value = parsed.value()
        options = value if isinstance(value, list) else getattr(value, "list", [value])  # [a,b]; a,b
        for option in options:
            if isinstance(option, str):
                reason = _escape(option)
                problem = reason and f"group option '{option}' of '{group}' {reason}"
            else:  # Hydra would fail with a bare ValueError or TypeError
                problem = f"'{group}' is a config group, and {_kind(option)} is not an option of it"
            if problem:
                folder = config_dir / group
                known = sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))
                raise CompositionError(
                    f"{origin}: {problem}; an option names a file in {folder}: {', '.join(known) or 'none there'}"
                )


def _is_group(key: str, config_dir: Path) -> bool:
    """Whether an override's key names a config group (``profile``, ``db/engine``)."""
    return bool(key) and ("/" in key or (config_dir / key.replace(".", "/")).is_dir())


def _escape(option: str) -> str | None:
    """How an option, read as a path under its group folder, could lead out of it; None if not."""
    if option.startswith(("/", "\\")) or PureWindowsPath(option).drive:
        return "is an absolute path"
    if ".." in re.split(r"[/\\]", option):
        return "climbs out of the group folder with '..'"
    if "${" in option:
        return "is an interpolation, which could resolve to any path"
    return None


def _kind(value: object) -> str:
    """What a parsed override value is, for a message: ``the number 5``, ``null``, ``a mapping``."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return f"a {type(value).__name__}"
