"""Flat exceptions, one per condition, each subclassing the nearest builtin.

Every message names the key, the bad value, where it came from and what would be accepted.
"""

from __future__ import annotations


def _listing(title: str, problems: list[str] | list[Exception]) -> str:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return f"{title} ({count}):\n" + "\n".join(f"  {p}" for p in problems)


class ConfigError(ValueError):
    """Raised when configuration cannot be composed, resolved or validated."""


class ConfigDirNotFoundError(ConfigError, FileNotFoundError):
    """Raised when the config directory or the primary config file does not exist."""


class CompositionError(ConfigError):
    """Raised when Hydra cannot compose the config (bad YAML, unknown option, bad override)."""


class InterpolationError(ConfigError):
    """Raised when an interpolation such as ``${oc.env:X}`` cannot be resolved."""


class EnvOverrideError(ConfigError):
    """Raised when an environment variable names a key the config does not have."""


class ValidationError(ConfigError):
    """Raised when one or more values fail their schema; ``problems`` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(_listing("invalid configuration", problems))


class UnknownKeyError(ConfigError, KeyError):
    """Raised when a key asked for (by ``explain``, say) is not in the config."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ComponentsError(ConfigError):
    """Raised when components cannot be resolved or wired; ``errors`` holds every cause."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        super().__init__(_listing("cannot build the components", errors))


class ClassNotAllowedError(ConfigError, PermissionError):
    """Raised when a component class lies outside ``app.allowed_packages``."""


class ComponentImportError(ConfigError, ImportError):
    """Raised when the module named by a component's ``class`` fails to import."""


class NotAComponentError(ConfigError, TypeError):
    """Raised when a component's ``class`` names something that is not a usable class."""


class UnknownParameterError(ConfigError, TypeError):
    """Raised when a constructor parameter matches no dependency and no framework service."""


class ReservedNameError(ConfigError):
    """Raised when a component is named like a framework service (``bus``, ``logger``, ...)."""


class DependencyCycleError(ConfigError):
    """Raised when components depend on each other in a cycle."""


class MissingDependencyError(ConfigError, LookupError):
    """Raised when a component depends on one that is absent or disabled."""


class VersionConflictError(ConfigError):
    """Raised when a dependency's version does not satisfy the constraint placed on it."""


class OrderConflictError(ConfigError):
    """Raised when ``app.initialization_order`` contradicts a dependency."""


class ContractViolationError(ConfigError, TypeError):
    """Raised when a component lacks a method of a contract it must provide, or its signature differs."""


class ComponentStartError(RuntimeError):
    """Raised when a component's start fails or exceeds its timeout; what started is stopped."""

    def __init__(self, component: str, cause: str) -> None:
        self.component = component
        super().__init__(f"component '{component}' failed to start: {cause}")
