"""Declarative, configuration-driven integration framework: the public API.

Everything users (and the shipped components) need is importable from here; the modules
behind it are private. What an app needs only once it runs (reload, health, resilience, the
admin API) loads on first use, so that start-up stays light.
"""

from typing import TYPE_CHECKING, Any

from framework.app import App
from framework.assembly import load as load_config
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
from framework.lifecycle import ComponentState
from framework.types import Component

if TYPE_CHECKING:
    from framework.config.reload import (
        ActionKind,
        ConfigChange,
        ReloadAction,
        ReloadOutcome,
        ReloadStatus,
        ShadowedEdit,
    )
    from framework.health import HealthMonitor, HealthReport, HealthStatus
    from framework.http import AdminApi, PortInUseError
    from framework.resilience import BreakerState, CircuitBreaker, CircuitOpenError, Resilience

__version__ = "0.1.0"

_LAZY = {
    **dict.fromkeys(
        ["ActionKind", "ConfigChange", "ReloadAction", "ReloadOutcome", "ReloadStatus", "ShadowedEdit"],
        "framework.config.reload",
    ),
    **dict.fromkeys(["HealthMonitor", "HealthReport", "HealthStatus"], "framework.health"),
    **dict.fromkeys(["AdminApi", "PortInUseError"], "framework.http"),
    **dict.fromkeys(["BreakerState", "CircuitBreaker", "CircuitOpenError", "Resilience"], "framework.resilience"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
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
