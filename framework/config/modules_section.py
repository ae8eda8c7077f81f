"""The ``modules`` config section: the module registry this app installs its company's modules from.

Every key is ``reload: never``: the section says where installed components come from, so a
reload cannot move the app to another registry or company while their components run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framework.config.schema import Schema
from framework.errors import ConfigError
from framework.types import KeyPath


def _key(kind: str, default: Any, description: str, **rules: Any) -> dict[str, Any]:
    return {"type": kind, "default": default, "reload": "never", "description": description, **rules}


MODULES_SCHEMA: Schema = {
    "enabled": _key("boolean", False, "Run the modules the registry has installed for this company"),
    "registry": _key(
        "string", None, "The module registry's URL, e.g. http://127.0.0.1:8700", nullable=True,
        regex=r"https?://\S+",
    ),
    "company": _key("string", None, "The company whose installations this app runs", nullable=True, empty=False),
    "token": _key(
        "string", None, "Bearer token (JWT) of a member of that company; required when enabled",
        nullable=True, secret=True, empty=False,
    ),
    "dir": _key("string", "var/modules", "Folder the verified packages are unpacked in", empty=False),
    "poll": _key("number", 5.0, "Seconds between polls of the registry (and the fallback while events are down)", min=0.1),
    "timeout": _key("number", 5.0, "Seconds a request to the registry may take", min=0.1),
    "max_package": _key("integer", 50_000_000, "Largest package (bytes) downloaded and unpacked", min=1),
    "events_url": _key(
        "string", None, "Redis URL of the registry's event bus, to hear of changes at once; null polls only",
        nullable=True, secret=True,
    ),
    "events_prefix": _key("string", "registry", "The registry bus's stream prefix (its event_bus.redis.prefix)", empty=False),
}


@dataclass(frozen=True)
class ModulesSettings:
    """A normalized ``modules`` section as typed values."""

    enabled: bool
    registry: str
    company: str
    token: str
    dir: Path
    poll: float
    timeout: float
    max_package: int
    events_url: str | None
    events_prefix: str

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> ModulesSettings:
        return cls(
            enabled=bool(section["enabled"]),
            registry=str(section["registry"] or "").rstrip("/"),
            company=str(section["company"] or ""),
            token=str(section["token"] or ""),
            dir=Path(section["dir"]).expanduser().resolve(),
            poll=float(section["poll"]),
            timeout=float(section["timeout"]),
            max_package=int(section["max_package"]),
            events_url=section["events_url"],
            events_prefix=str(section["events_prefix"]),
        )


def section_problems(section: Mapping[str, Any], where: Callable[[KeyPath], str]) -> list[ConfigError]:
    """Keys an enabled section needs; ``where(path)`` says where ``modules.enabled`` was set."""
    if not section["enabled"]:
        return []
    missing = [key for key in ("registry", "company", "token") if not section[key]]
    return [
        ConfigError(
            f"modules.{key}: required when modules.enabled is true [{where(('modules', 'enabled'))}]"
        )
        for key in missing
    ]
