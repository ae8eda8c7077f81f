"""The ``fleet`` config section: where the fleet lives (Redis), what this instance is called.

Every key is ``reload: never``: the section says where the overlay comes from, so a reload
(the overlay's own included) cannot move the instance to another fleet.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from framework.config.schema import Schema
from framework.errors import ConfigError
from framework.types import KeyPath

NAME = r"[A-Za-z0-9_.-]+"  # no braces: the fleet name is the Redis Cluster hash tag of its keys


def _key(kind: str, default: Any, description: str, **rules: Any) -> dict[str, Any]:
    return {"type": kind, "default": default, "reload": "never", "description": description, **rules}


FLEET_SCHEMA: Schema = {
    "enabled": _key("boolean", False, "Join a fleet: register, take its overlay, answer its rollouts"),
    "name": _key(
        "string", None, "The fleet: the instances that share one overlay; null means app.name",
        nullable=True, regex=NAME,
    ),
    "instance": _key(
        "string", None, "This instance's name in the fleet; null means '<host>:<pid>'",
        nullable=True, regex=r"[A-Za-z0-9_.:@-]+",
    ),
    "url": _key(
        "string", "redis://127.0.0.1:6379/0", "Redis URL of the fleet's store (any node of a cluster)",
        empty=False,
    ),
    "cluster": _key("boolean", False, "The URL names a node of a Redis Cluster"),
    "signing_key": _key(
        "string", None, "HMAC-SHA256 key signing rollouts and answers; required when enabled",
        nullable=True, secret=True, minlength=16,
    ),
    "required": _key(
        "boolean", True,
        "Refuse to start when the fleet's Redis is out of reach; false starts without the overlay,"
        " degraded, and catches up when Redis answers",
    ),
    "heartbeat": _key("number", 1.0, "Seconds between membership heartbeats", min=0.05),
    "ttl": _key(
        "number", 5.0, "Seconds an instance stays listed without a heartbeat (it died)", min=0.2,
    ),
    "connect_timeout": _key("number", 2.0, "Seconds to wait for a connection to Redis", min=0.01),
    "history_size": _key("integer", 100, "Overlay versions kept for history and rollback", min=2),
}


@dataclass(frozen=True)
class FleetSettings:
    """A normalized ``fleet`` section as typed values."""

    enabled: bool
    name: str
    instance: str
    url: str
    cluster: bool
    signing_key: str | None
    required: bool
    heartbeat: float
    ttl: float
    connect_timeout: float
    history_size: int

    @classmethod
    def from_section(cls, section: Mapping[str, Any], app_name: str) -> FleetSettings:
        return cls(
            enabled=bool(section["enabled"]),
            name=section["name"] or _fleet_name(app_name),
            instance=section["instance"] or f"{socket.gethostname()}:{os.getpid()}",
            url=section["url"],
            cluster=bool(section["cluster"]),
            signing_key=section["signing_key"],
            required=bool(section["required"]),
            heartbeat=float(section["heartbeat"]),
            ttl=float(section["ttl"]),
            connect_timeout=float(section["connect_timeout"]),
            history_size=int(section["history_size"]),
        )


def _fleet_name(app_name: str) -> str:
    """The app's name as a fleet name: characters a fleet name may not hold become '-'."""
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in app_name) or "app"


def section_problems(section: Mapping[str, Any], where: Callable[[KeyPath], str]) -> list[ConfigError]:
    """Rules across keys the schema cannot say; ``where(path)`` says where a key was set."""
    problems: list[ConfigError] = []
    if section["enabled"] and not section["signing_key"]:
        problems.append(ConfigError(
            f"fleet.signing_key: required when fleet.enabled is true [{where(('fleet', 'enabled'))}];"
            " HMAC-SHA256 signs every rollout and answer: set a random string of 16+ characters"
        ))
    if section["ttl"] <= 2 * section["heartbeat"]:
        problems.append(ConfigError(
            f"fleet.ttl: {section['ttl']} [{where(('fleet', 'ttl'))}] must exceed twice fleet.heartbeat"
            f" ({section['heartbeat']}), or one slow heartbeat drops a live instance"
        ))
    return problems
