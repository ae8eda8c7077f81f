"""The registry's refusals: one exception per HTTP answer, each carrying its message (and rule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Location = Sequence[str | int]


class RegistryError(Exception):
    """Raised when a request is refused; ``status`` is the HTTP answer, ``rule`` the rule it broke."""

    status = 400

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.message, self.rule = message, rule

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        return {"detail": self.message, **({"rule": self.rule} if self.rule else {})}


class Unauthorized(RegistryError):
    """Raised when a request has no valid bearer token (missing, expired, badly signed)."""

    status = 401


class Forbidden(RegistryError):
    """Raised when the token's role may not do this to something its company may see."""

    status = 403


class NotFound(RegistryError, LookupError):
    """Raised when the thing does not exist, or the token's company may not see it."""

    status = 404


class Conflict(RegistryError):
    """Raised when the registry's state forbids the change (duplicates, immutability, dependents)."""

    status = 409


class TooLarge(RegistryError):
    """Raised when a package is over the size limit (``packages.max_size``)."""

    status = 413


class Invalid(RegistryError, ValueError):
    """Raised when input is malformed; each problem names its field (``loc``)."""

    status = 422

    def __init__(self, problems: Sequence[tuple[Location, str, str]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg, _ in problems))
        self.problems = list(problems)

    @classmethod
    def at(cls, loc: Location, message: str, rule: str = "value_error") -> Invalid:
        """One problem at one field."""
        return cls([(loc, message, rule)])

    def body(self) -> dict[str, Any]:
        return {"detail": [{"loc": list(loc), "msg": msg, "type": rule} for loc, msg, rule in self.problems]}


class Unavailable(RegistryError):
    """Raised when the database cannot be reached; nothing of the request was written."""

    status = 503
