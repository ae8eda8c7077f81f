"""Declarative, configuration-driven integration framework: the public API.

Everything users (and the shipped components) need is importable from here; the modules
behind it are private. Each name loads its module on first use, so start-up pays only for
what it uses (reload, health, resilience and the admin API wait until an app needs them).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.admin.server import AdminApi, PortInUseError
    from framework.app import App
    from framework.assembly import load_config
    from framework.component import ComponentSpec, Dependency
    from framework.config.compose import ConfigSource
    from framework.config.explain import explain
    from framework.config.provenance import Layer, Origin, Provenance
    from framework.config.schema import Reload
    from framework.config.snapshot import FrozenDict, Snapshot
    from framework.errors import (
        ClassNotAllowedError,
        ComponentImportError,
        ComponentsError,
        ComponentStartError,
        CompositionError,
        ConfigDirNotFoundError,
        ConfigError,
        ContractViolationError,
        DependencyCycleError,
        EnvOverrideError,
        InterpolationError,
        MissingDependencyError,
        NotAComponentError,
        OrderConflictError,
        UnknownKeyError,
        UnknownParameterError,
        ValidationError,
        VersionConflictError,
    )
    from framework.events.bus import DeadLetter, EventBus, ScopedBus, Subscription, create_bus
    from framework.events.envelope import Envelope
    from framework.events.errors import (
        BusClosedError,
        BusConnectionError,
        EventSerializationError,
        InvalidTopicError,
        PayloadValidationError,
        RequestTimeoutError,
        TopicPermissionError,
    )
    from framework.health import HealthMonitor, HealthReport, HealthStatus
    from framework.lifecycle import ComponentState
    from framework.reload.outcome import (
        ActionKind,
        ConfigChange,
        ReloadAction,
        ReloadOutcome,
        ReloadStatus,
        ShadowedEdit,
    )
    from framework.resilience import BreakerState, CircuitBreaker, CircuitOpenError, Resilience
    from framework.types import Component

from framework._version import __version__

# Public name -> (module, name there). Each loads on first use: `integrate` pays only for
# what a verb needs, and the CLI can set up loguru before anything imports it.
_LAZY = {
    "ActionKind": ("framework.reload.outcome", "ActionKind"),
    "AdminApi": ("framework.admin.server", "AdminApi"),
    "App": ("framework.app", "App"),
    "BreakerState": ("framework.resilience", "BreakerState"),
    "BusClosedError": ("framework.events.errors", "BusClosedError"),
    "BusConnectionError": ("framework.events.errors", "BusConnectionError"),
    "CircuitBreaker": ("framework.resilience", "CircuitBreaker"),
    "CircuitOpenError": ("framework.resilience", "CircuitOpenError"),
    "ClassNotAllowedError": ("framework.errors", "ClassNotAllowedError"),
    "Component": ("framework.types", "Component"),
    "ComponentImportError": ("framework.errors", "ComponentImportError"),
    "ComponentSpec": ("framework.component", "ComponentSpec"),
    "ComponentStartError": ("framework.errors", "ComponentStartError"),
    "ComponentState": ("framework.lifecycle", "ComponentState"),
    "ComponentsError": ("framework.errors", "ComponentsError"),
    "CompositionError": ("framework.errors", "CompositionError"),
    "ConfigChange": ("framework.reload.outcome", "ConfigChange"),
    "ConfigDirNotFoundError": ("framework.errors", "ConfigDirNotFoundError"),
    "ConfigError": ("framework.errors", "ConfigError"),
    "ConfigSource": ("framework.config.compose", "ConfigSource"),
    "ContractViolationError": ("framework.errors", "ContractViolationError"),
    "DeadLetter": ("framework.events.bus", "DeadLetter"),
    "Dependency": ("framework.component", "Dependency"),
    "DependencyCycleError": ("framework.errors", "DependencyCycleError"),
    "EnvOverrideError": ("framework.errors", "EnvOverrideError"),
    "Envelope": ("framework.events.envelope", "Envelope"),
    "EventBus": ("framework.events.bus", "EventBus"),
    "EventSerializationError": ("framework.events.errors", "EventSerializationError"),
    "FrozenDict": ("framework.config.snapshot", "FrozenDict"),
    "HealthMonitor": ("framework.health", "HealthMonitor"),
    "HealthReport": ("framework.health", "HealthReport"),
    "HealthStatus": ("framework.health", "HealthStatus"),
    "InterpolationError": ("framework.errors", "InterpolationError"),
    "InvalidTopicError": ("framework.events.errors", "InvalidTopicError"),
    "Layer": ("framework.config.provenance", "Layer"),
    "MissingDependencyError": ("framework.errors", "MissingDependencyError"),
    "NotAComponentError": ("framework.errors", "NotAComponentError"),
    "OrderConflictError": ("framework.errors", "OrderConflictError"),
    "Origin": ("framework.config.provenance", "Origin"),
    "PayloadValidationError": ("framework.events.errors", "PayloadValidationError"),
    "PortInUseError": ("framework.admin.server", "PortInUseError"),
    "Provenance": ("framework.config.provenance", "Provenance"),
    "Reload": ("framework.config.schema", "Reload"),
    "ReloadAction": ("framework.reload.outcome", "ReloadAction"),
    "ReloadOutcome": ("framework.reload.outcome", "ReloadOutcome"),
    "ReloadStatus": ("framework.reload.outcome", "ReloadStatus"),
    "RequestTimeoutError": ("framework.events.errors", "RequestTimeoutError"),
    "Resilience": ("framework.resilience", "Resilience"),
    "ScopedBus": ("framework.events.bus", "ScopedBus"),
    "ShadowedEdit": ("framework.reload.outcome", "ShadowedEdit"),
    "Snapshot": ("framework.config.snapshot", "Snapshot"),
    "Subscription": ("framework.events.bus", "Subscription"),
    "TopicPermissionError": ("framework.events.errors", "TopicPermissionError"),
    "UnknownKeyError": ("framework.errors", "UnknownKeyError"),
    "UnknownParameterError": ("framework.errors", "UnknownParameterError"),
    "ValidationError": ("framework.errors", "ValidationError"),
    "VersionConflictError": ("framework.errors", "VersionConflictError"),
    "create_bus": ("framework.events.bus", "create_bus"),
    "explain": ("framework.config.explain", "explain"),
    "load_config": ("framework.assembly", "load_config"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'framework' has no attribute '{name}'")


__all__ = [
    "ActionKind",
    "AdminApi",
    "App",
    "BreakerState",
    "BusClosedError",
    "BusConnectionError",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClassNotAllowedError",
    "Component",
    "ComponentImportError",
    "ComponentSpec",
    "ComponentStartError",
    "ComponentState",
    "ComponentsError",
    "CompositionError",
    "ConfigChange",
    "ConfigDirNotFoundError",
    "ConfigError",
    "ConfigSource",
    "ContractViolationError",
    "DeadLetter",
    "Dependency",
    "DependencyCycleError",
    "EnvOverrideError",
    "Envelope",
    "EventBus",
    "EventSerializationError",
    "FrozenDict",
    "HealthMonitor",
    "HealthReport",
    "HealthStatus",
    "InterpolationError",
    "InvalidTopicError",
    "Layer",
    "MissingDependencyError",
    "NotAComponentError",
    "OrderConflictError",
    "Origin",
    "PayloadValidationError",
    "PortInUseError",
    "Provenance",
    "Reload",
    "ReloadAction",
    "ReloadOutcome",
    "ReloadStatus",
    "RequestTimeoutError",
    "Resilience",
    "ScopedBus",
    "ShadowedEdit",
    "Snapshot",
    "Subscription",
    "TopicPermissionError",
    "UnknownKeyError",
    "UnknownParameterError",
    "ValidationError",
    "VersionConflictError",
    "__version__",
    "create_bus",
    "explain",
    "load_config",
]
