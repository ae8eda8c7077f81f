"""Wiring: one dependency-injector provider per enabled component, after our own checks.

A constructor receives, by parameter name: ``config`` (its validated, read-only config),
framework services (``name``, ``logger``, ``bus``, ``tasks``, ``health``, ``resilience``,
``metrics``, ``app``), and its dependencies by their component names, which therefore may not be one of
those. Anything else is an error before any instance is built.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, get_type_hints

from framework.component import ComponentSpec
from framework.contracts import check_contract, is_contract
from framework.errors import ConfigError, ContractViolationError, ReservedNameError, UnknownParameterError
from framework.graph import Graph
from framework.targets import materialize


class _Without:
    """An import finder that reports the named top-level packages as not installed."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)


def _import_providers() -> ModuleType:
    """``dependency_injector.providers``, without importing pydantic when that changes nothing.

    Only ``providers``: ``dependency_injector.containers`` imports its wiring module, which
    imports FastAPI when installed (about 0.3 s of start-up), and we need none of it.
    At import, ``providers`` looks for pydantic-settings, else imports pydantic only to see
    whether it is pydantic 1 (whose BaseSettings it supports). We require pydantic 2, so without
    pydantic-settings it enables nothing either way, yet importing pydantic costs 20-50 ms of
    every start. When pydantic-settings is installed (or pydantic already imported), nothing
    is hidden.
    """
    if "pydantic" in sys.modules or importlib.util.find_spec("pydantic_settings") is not None:
        from dependency_injector import providers as module

        return module
    finder = _Without("pydantic")
    sys.meta_path.insert(0, finder)
    try:
        from dependency_injector import providers as module
    finally:
        sys.meta_path.remove(finder)
    return module


if TYPE_CHECKING:
    from dependency_injector import providers
else:
    providers = _import_providers()

# A framework service, made for one component (e.g. its bound logger).
ServiceFactory = Callable[[ComponentSpec], Any]
RESERVED = ("config", "name", "logger", "bus", "tasks", "health", "resilience", "metrics", "app")


def wiring_problems(
    specs: Mapping[str, ComponentSpec], classes: Mapping[str, type], graph: Graph
) -> list[ConfigError]:
    """Names taken by a framework service, constructor parameters that match nothing, and
    contract violations."""
    problems: list[ConfigError] = [
        ReservedNameError(
            f"components.{name}: the name '{name}' is reserved: a constructor parameter '{name}'"
            f" receives the framework's own; rename the component (reserved: {', '.join(RESERVED)})"
        )
        for name in graph.order
        if name in RESERVED
    ]
    for name in graph.order:
        cls, deps = classes[name], set(graph.edges[name])
        for contract in getattr(cls, "provides", ()) or ():
            try:
                check_contract(name, cls, contract)
            except ContractViolationError as exc:
                problems.append(exc)
        hints = _hints(cls)
        points = graph.extensions.get(name, {})
        for param in _parameters(cls):
            if param.kind is param.VAR_KEYWORD or param.name in RESERVED or param.name in points:
                continue
            if param.name in deps:
                contract = hints.get(param.name)
                if contract is not None and is_contract(contract):
                    try:
                        check_contract(param.name, classes[param.name], contract)
                    except ContractViolationError as exc:
                        problems.append(ContractViolationError(f"{exc} (required by '{name}')"))
                continue
            if param.default is param.empty and param.kind is not param.VAR_POSITIONAL:
                problems.append(UnknownParameterError(
                    f"components.{name}: constructor parameter '{param.name}' of"
                    f" {cls.__qualname__} matches no dependency (depends_on:"
                    f" {', '.join(sorted(deps)) or 'none'}) and no framework service"
                    f" ({', '.join(RESERVED)})"))
    return problems


def _parameters(cls: type) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return []


def _hints(cls: type) -> dict[str, Any]:
    try:
        return get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # unresolvable forward references: no contract to check
        return {}


# A Singleton per component; a reload provides the components it keeps as Objects.
Providers = dict[str, "providers.Provider[Any]"]


def build_container(
    specs: Mapping[str, ComponentSpec],
    classes: Mapping[str, type],
    graph: Graph,
    services: Mapping[str, ServiceFactory],
) -> Providers:
    """Providers in start order, so each dependency's provider exists when referenced."""
    built: Providers = {}
    for name in graph.order:
        built[name] = component_provider(built, specs[name], classes[name], graph, services)
    return built


def component_provider(
    built: Providers,
    spec: ComponentSpec,
    cls: type,
    graph: Graph,
    services: Mapping[str, ServiceFactory],
) -> providers.Singleton[Any]:
    params = _parameters(cls)
    accepts_all = any(p.kind is p.VAR_KEYWORD for p in params)
    names = {p.name for p in params}
    kwargs: dict[str, Any] = {}
    extension_only = set(graph.extended_by.get(spec.name, ())) - {d.name for d in spec.depends_on}
    for dep in graph.edges[spec.name]:
        if (dep in names or accepts_all) and dep not in extension_only:
            kwargs[dep] = built[dep]
    for point, providers_of_point in graph.extensions.get(spec.name, {}).items():  # a list per point
        kwargs[point] = providers.List(*(built[p] for p in providers_of_point))
    if "config" in names or accepts_all:  # its `_target_` mappings made into objects, when built
        kwargs["config"] = providers.Callable(materialize, spec.config)
    for service, factory in services.items():
        if service in names:
            kwargs[service] = providers.Object(factory(spec))
    return providers.Singleton(cls, **kwargs)


def rebuild_container(
    specs: Mapping[str, ComponentSpec],
    classes: Mapping[str, type],
    graph: Graph,
    services: Mapping[str, ServiceFactory],
    running: Mapping[str, Any],
) -> Providers:
    """Providers for a reloaded config: the components in ``running`` are kept as they are,
    the others are built anew, with their new config and the instances they depend on."""
    built: Providers = {}
    for name in graph.order:
        if name in running:
            built[name] = providers.Object(running[name])
        else:
            built[name] = component_provider(built, specs[name], classes[name], graph, services)
    return built
