"""Flat exceptions, one per condition, each subclassing the nearest builtin.

Every message names the key, the bad value, where it came from and what would be accepted.
"""

from __future__ import annotations

SHOWN_PROBLEMS = 20  # one screen: past this many, problems are counted, not listed


def _problems(count: int, adjective: str = "") -> str:
    return f"{count} {adjective}{'problem' if count == 1 else 'problems'}"


def listed(problems: list[str], unlisted: int = 0) -> list[str]:
    """At most SHOWN_PROBLEMS of ``problems``, then one line counting the rest exactly.

    ``unlisted``: problems found but never put into words, counted with the rest. Whatever shows
    a list of problems (the terminal, a log line, an event, the reload history) shows this one.
    """
    rest = unlisted + max(0, len(problems) - SHOWN_PROBLEMS)
    shown = problems[:SHOWN_PROBLEMS]
    return [*shown, f"... and {_problems(rest, 'more ')}"] if rest else shown


def _listing(title: str, problems: list[str], total: int) -> str:
    return f"{title} ({_problems(total)}):\n" + "\n".join(f"  {p}" for p in problems)


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


class OverlayError(ConfigError):
    """Raised when the fleet overlay sets a key the config does not have, or may not set."""


class InstallationError(ConfigError):
    """Raised when a module registry's installation cannot become a component of this app."""

    def __init__(self, installation_id: int, message: str) -> None:
        super().__init__(message)
        self.installation_id = installation_id


class FleetUnreachableError(ConfigError):
    """Raised at start when the fleet's Redis is out of reach and ``fleet.required`` is true."""


class ValidationError(ConfigError):
    """Raised when one or more values fail their schema.

    ``problems`` holds the first ones (at most SHOWN_PROBLEMS), ``more`` counts the rest exactly;
    ``unlisted`` are problems found but never put into words (rendering thousands costs seconds).
    """

    def __init__(self, problems: list[str], unlisted: int = 0) -> None:
        self.problems = problems[:SHOWN_PROBLEMS]
        self.more = unlisted + len(problems) - len(self.problems)
        super().__init__(_listing("invalid configuration", self.reasons, len(self.problems) + self.more))

    @property
    def reasons(self) -> list[str]:
        """The problems listed, then the count of the rest: one screen, one log line."""
        return listed(self.problems, self.more)


class UnknownKeyError(ConfigError, KeyError):
    """Raised when a key asked for (by ``explain``, say) is not in the config."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ComponentsError(ConfigError):
    """Raised when components cannot be resolved or wired; ``errors`` holds every cause."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        lines = listed([str(e) for e in errors])
        super().__init__(_listing("cannot build the components", lines, len(errors)))


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


class ComponentBuildError(RuntimeError):
    """Raised when a component's constructor raises at start-up; the bus is closed again.

    ``origins`` lines name the config values the cause mentions, with where each was set.
    """

    def __init__(self, component: str, cause: str, origins: list[str]) -> None:
        self.component, self.cause, self.origins = component, cause, origins
        where = "".join(f"\n  {line}" for line in origins)
        super().__init__(f"component '{component}' could not be built: {cause}{where}")


class MetricError(ValueError):
    """Raised when a component registers a metric whose name or labels are invalid or clash."""

    def __init__(self, component: str, metric: str, problem: str) -> None:
        self.component, self.metric = component, metric
        super().__init__(f"component '{component}', metric '{metric}': {problem}")


class PayloadDeclarationError(ConfigError, TypeError):
    """A component's declared payload is malformed: its schema, its topic or its version."""


class PayloadMismatchError(ConfigError):
    """A subscriber requires a field, a type or a version that a publisher of the topic does not give."""
