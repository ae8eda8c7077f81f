"""Declarative, configuration-driven integration framework."""

from framework.errors import (
    CompositionError,
    ConfigDirNotFoundError,
    ConfigError,
    EnvOverrideError,
    InterpolationError,
    UnknownKeyError,
    ValidationError,
)

__version__ = "0.1.0"

__all__ = [
    "CompositionError",
    "ConfigDirNotFoundError",
    "ConfigError",
    "EnvOverrideError",
    "InterpolationError",
    "UnknownKeyError",
    "ValidationError",
    "__version__",
]
