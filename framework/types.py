"""What a component, its hooks and its callbacks must look like.

A component is any class; these Protocols say which members the framework calls. Hooks may be
plain or ``async`` functions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

KeyPath = tuple[str, ...]
"""A key in the config as its parts: ``("components", "feed", "config")``."""
Publish = Callable[[str, Mapping[str, Any]], None]
"""Publish a framework event (topic, data) without waiting for delivery."""


@runtime_checkable
class Component(Protocol):
    """A component is started and stopped by the lifecycle; everything else is optional.

    Optional class attributes: ``version`` (PEP 440 string), ``config_schema`` (Cerberus),
    ``provides`` (contracts: Protocols or ABCs), ``publishes`` / ``subscribes`` (topics),
    ``payloads`` / ``requires`` (declared event payloads: ``framework.events.payloads``).
    Optional hooks: ``on_before_start``, ``on_after_start``, ``on_before_stop``,
    ``on_after_stop``, and ``on_config_change(config, changed_keys)`` for live reload.
    """

    def start(self) -> Awaitable[None] | None: ...

    def stop(self) -> Awaitable[None] | None: ...
