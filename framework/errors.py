"""Flat exceptions, one per condition, each subclassing the nearest builtin.

Every message names the key, the bad value, where it came from and what would be accepted.
"""

from __future__ import annotations


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
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"invalid configuration ({count}):\n" + "\n".join(f"  {p}" for p in problems))


class UnknownKeyError(ConfigError, KeyError):
    """Raised when a key asked for (by ``explain``, say) is not in the config."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
