"""HTTP endpoints that installed modules declare, served by the app's admin server under
``/modules/<module>/``: which handler answers which method and path, swapped as one table
when the installed set changes, so a request never sees half of an update."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class ModuleRoute:
    """One declared endpoint: ``handler(component, request)`` answers it."""

    module: str
    method: str
    path: str  # as declared, starting with "/"
    handler: Callable[..., Any]
    component: str  # the component it runs beside: the handler's first argument


class ModuleEndpoints:
    """The endpoints of the modules running now, by module and then by (method, path)."""

    def __init__(self) -> None:
        self._routes: Mapping[str, Mapping[tuple[str, str], ModuleRoute]] = {}

    def replace(self, routes: list[ModuleRoute]) -> None:
        table: dict[str, dict[tuple[str, str], ModuleRoute]] = {}
        for route in routes:
            table.setdefault(route.module, {})[(route.method, _normal(route.path))] = route
        self._routes = table  # one assignment: readers see the old table or the new one

    def find(self, module: str, method: str, path: str) -> ModuleRoute | None:
        return self._routes.get(module, {}).get((method.upper(), _normal(path)))

    def modules(self) -> list[str]:
        return sorted(self._routes)

    def describe(self) -> dict[str, list[str]]:
        """``{module: ["GET /hello", ...]}``, for the admin API's listing."""
        return {m: sorted(f"{method} {path}" for method, path in r) for m, r in sorted(self._routes.items())}


def _normal(path: str) -> str:
    return "/" + path.strip("/")
