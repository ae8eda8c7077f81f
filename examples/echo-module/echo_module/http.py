"""The echo module's HTTP endpoint, mounted by an installing app under ``/modules/echo-module/``."""

from __future__ import annotations

from typing import Any


def hello(component: Any, request: Any) -> dict[str, Any]:
    """``GET /hello``: the component's greeting and how many times it says it."""
    return {"greeting": component.config["greeting"], "repeat": component.config["repeat"]}
