"""Declarative, configuration-driven integration framework: the public API.

Everything users (and the shipped components) need is importable from here; the modules
behind it are private. Each name loads its module on first use, so start-up pays only for
what it uses (reload, health, resilience and the admin API wait until an app needs them).
"""

from typing import TYPE_CHECKING, Any

# For type checkers and editors (`X as X` marks a re-export); a test keeps it equal to _PUBLIC.
if TYPE_CHECKING:
    from framework.admin.body_limit import BodyLimit as BodyLimit
    from framework.admin.server import AdminApi as AdminApi
    from framework.admin.serving import BindError as BindError
    from framework.admin.serving import HttpServer as HttpServer
    from framework.admin.serving import PortInUseError as PortInUseError
    from framework.admin.serving import bind as bind
    from framework.alerts.sink import AlertSink as AlertSink
    from framework.app import App as App
    from framework.assembly import load_config as load_config
    from framework.component import ComponentSpec as ComponentSpec
    from framework.component import Dependency as Dependency
    from framework.config.compose import ConfigSource as ConfigSource
    from framework.config.explain import explain as explain
    from framework.config.provenance import Layer as Layer
    from framework.config.provenance import Origin as Origin
    from framework.config.provenance import Provenance as Provenance
    from framework.config.schema import Reload as Reload
    from framework.config.snapshot import FrozenDict as FrozenDict
    from framework.config.snapshot import Snapshot as Snapshot
    from framework.control import ControlRefusedError as ControlRefusedError
    from framework.control import UnknownComponentError as UnknownComponentError
    from framework.errors import ClassNotAllowedError as ClassNotAllowedError
    from framework.errors import ComponentBuildError as ComponentBuildError
    from framework.errors import ComponentImportError as ComponentImportError
    from framework.errors import ComponentsError as ComponentsError
    from framework.errors import ComponentStartError as ComponentStartError
    from framework.errors import CompositionError as CompositionError
    from framework.errors import ConfigDirNotFoundError as ConfigDirNotFoundError
    from framework.errors import ConfigError as ConfigError
    from framework.errors import ContractViolationError as ContractViolationError
    from framework.errors import DependencyCycleError as DependencyCycleError
    from framework.errors import EnvOverrideError as EnvOverrideError
    from framework.errors import FleetUnreachableError as FleetUnreachableError
    from framework.errors import InstallationError as InstallationError
    from framework.errors import InterpolationError as InterpolationError
    from framework.errors import MetricError as MetricError
    from framework.errors import MissingDependencyError as MissingDependencyError
    from framework.errors import NotAComponentError as NotAComponentError
    from framework.errors import OrderConflictError as OrderConflictError
    from framework.errors import OverlayError as OverlayError
    from framework.errors import PayloadDeclarationError as PayloadDeclarationError
    from framework.errors import PayloadMismatchError as PayloadMismatchError
    from framework.errors import ReservedNameError as ReservedNameError
    from framework.errors import UnknownKeyError as UnknownKeyError
    from framework.errors import UnknownParameterError as UnknownParameterError
    from framework.errors import ValidationError as ValidationError
    from framework.errors import VersionConflictError as VersionConflictError
    from framework.events.bus import EventBus as EventBus
    from framework.events.bus import ScopedBus as ScopedBus
    from framework.events.envelope import Envelope as Envelope
    from framework.events.errors import BusClosedError as BusClosedError
    from framework.events.errors import BusConnectionError as BusConnectionError
    from framework.events.errors import DeadLetterNotFoundError as DeadLetterNotFoundError
    from framework.events.errors import DuplicateSubscriberError as DuplicateSubscriberError
    from framework.events.errors import EventDecodeError as EventDecodeError
    from framework.events.errors import EventSerializationError as EventSerializationError
    from framework.events.errors import HandlerTimeoutError as HandlerTimeoutError
    from framework.events.errors import InvalidTopicError as InvalidTopicError
    from framework.events.errors import LeaseLostError as LeaseLostError
    from framework.events.errors import MissingSigningKeyError as MissingSigningKeyError
    from framework.events.errors import PartitionSettingsError as PartitionSettingsError
    from framework.events.errors import PayloadValidationError as PayloadValidationError
    from framework.events.errors import PayloadVersionError as PayloadVersionError
    from framework.events.errors import ReplayError as ReplayError
    from framework.events.errors import RequestTimeoutError as RequestTimeoutError
    from framework.events.errors import StreamError as StreamError
    from framework.events.errors import TopicPermissionError as TopicPermissionError
    from framework.events.factory import create_bus as create_bus
    from framework.events.partitioning import Partition as Partition
    from framework.events.payloads import Payload as Payload
    from framework.events.records import DeadLetter as DeadLetter
    from framework.events.records import PartitionStatus as PartitionStatus
    from framework.events.records import Subscription as Subscription
    from framework.extensions import ExtensionError as ExtensionError
    from framework.extensions import ExtensionPoint as ExtensionPoint
    from framework.health import HealthMonitor as HealthMonitor
    from framework.health_records import HealthReport as HealthReport
    from framework.health_records import HealthStatus as HealthStatus
    from framework.lifecycle import ComponentState as ComponentState
    from framework.metrics import ComponentMetrics as ComponentMetrics
    from framework.metrics import Labelled as Labelled
    from framework.modules.package import PackageRefusedError as PackageRefusedError
    from framework.modules.package import WheelInfo as WheelInfo
    from framework.modules.package import check_manifest as check_manifest
    from framework.modules.package import check_wheel_filename as check_wheel_filename
    from framework.modules.package import inspect_wheel as inspect_wheel
    from framework.modules.package import sha256_of as sha256_of
    from framework.reload.outcome import ActionKind as ActionKind
    from framework.reload.outcome import ConfigChange as ConfigChange
    from framework.reload.outcome import ReloadAction as ReloadAction
    from framework.reload.outcome import ReloadOutcome as ReloadOutcome
    from framework.reload.outcome import ReloadStatus as ReloadStatus
    from framework.reload.outcome import ShadowedEdit as ShadowedEdit
    from framework.resilience import BreakerState as BreakerState
    from framework.resilience import CircuitBreaker as CircuitBreaker
    from framework.resilience import CircuitOpenError as CircuitOpenError
    from framework.resilience import Resilience as Resilience
    from framework.targets import TargetError as TargetError
    from framework.tasks import ComponentTasks as ComponentTasks
    from framework.types import Component as Component

from framework._version import __version__ as __version__

# The public API, written once: defining module -> the names users import from `framework`.
# Each name loads its module on first use: `integrate` pays only for what a verb needs, and the
# CLI can set up loguru before anything imports it.
_PUBLIC: dict[str, tuple[str, ...]] = {
    "framework.admin.body_limit": ("BodyLimit",),
    "framework.admin.server": ("AdminApi",),
    "framework.admin.serving": (
        "BindError",
        "HttpServer",
        "PortInUseError",
        "bind",
    ),
    "framework.alerts.sink": ("AlertSink",),
    "framework.app": ("App",),
    "framework.assembly": ("load_config",),
    "framework.component": (
        "ComponentSpec",
        "Dependency",
    ),
    "framework.config.compose": ("ConfigSource",),
    "framework.config.explain": ("explain",),
    "framework.config.provenance": (
        "Layer",
        "Origin",
        "Provenance",
    ),
    "framework.config.schema": ("Reload",),
    "framework.config.snapshot": (
        "FrozenDict",
        "Snapshot",
    ),
    "framework.errors": (
        "ClassNotAllowedError",
        "ComponentBuildError",
        "ComponentImportError",
        "ComponentStartError",
        "ComponentsError",
        "CompositionError",
        "ConfigDirNotFoundError",
        "ConfigError",
        "ContractViolationError",
        "DependencyCycleError",
        "EnvOverrideError",
        "FleetUnreachableError",
        "InstallationError",
        "InterpolationError",
        "MetricError",
        "MissingDependencyError",
        "NotAComponentError",
        "OrderConflictError",
        "OverlayError",
        "PayloadDeclarationError",
        "PayloadMismatchError",
        "ReservedNameError",
        "UnknownKeyError",
        "UnknownParameterError",
        "ValidationError",
        "VersionConflictError",
    ),
    "framework.events.bus": ("EventBus", "ScopedBus"),
    "framework.events.envelope": ("Envelope",),
    "framework.events.errors": (
        "BusClosedError",
        "BusConnectionError",
        "DeadLetterNotFoundError",
        "DuplicateSubscriberError",
        "EventDecodeError",
        "EventSerializationError",
        "HandlerTimeoutError",
        "InvalidTopicError",
        "LeaseLostError",
        "MissingSigningKeyError",
        "PartitionSettingsError",
        "PayloadValidationError",
        "PayloadVersionError",
        "ReplayError",
        "RequestTimeoutError",
        "StreamError",
        "TopicPermissionError",
    ),
    "framework.control": ("ControlRefusedError", "UnknownComponentError"),
    "framework.events.factory": ("create_bus",),
    "framework.extensions": ("ExtensionError", "ExtensionPoint"),
    "framework.targets": ("TargetError",),
    "framework.events.partitioning": ("Partition",),
    "framework.events.payloads": ("Payload",),
    "framework.events.records": ("DeadLetter", "PartitionStatus", "Subscription"),
    "framework.health": ("HealthMonitor",),
    "framework.health_records": ("HealthReport", "HealthStatus"),
    "framework.lifecycle": ("ComponentState",),
    "framework.metrics": ("ComponentMetrics", "Labelled"),
    "framework.modules.package": (
        "PackageRefusedError",
        "WheelInfo",
        "check_manifest",
        "check_wheel_filename",
        "inspect_wheel",
        "sha256_of",
    ),
    "framework.reload.outcome": (
        "ActionKind",
        "ConfigChange",
        "ReloadAction",
        "ReloadOutcome",
        "ReloadStatus",
        "ShadowedEdit",
    ),
    "framework.resilience": (
        "BreakerState",
        "CircuitBreaker",
        "CircuitOpenError",
        "Resilience",
    ),
    "framework.tasks": ("ComponentTasks",),
    "framework.types": ("Component",),
}
_LAZY = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'framework' has no attribute '{name}'")
