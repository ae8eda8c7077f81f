"""What a database error means for the request: the database is gone (503), the input cannot be
stored (422), a constraint was hit (409), or a bug (None: a 500).

asyncpg's errors reach SQLAlchemy mostly as a plain ``DBAPIError``: their SQLSTATE tells them apart.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa
from sqlalchemy.ext.asyncio import AsyncSession

from module_registry.errors import Conflict, Invalid, RegistryError, Unavailable

_DOWN = ("08", "57", "53", "58")  # connection, operator intervention (shutdown), resources, system
UNAVAILABLE = "the database is unavailable; nothing was written, try again"


def classify(error: BaseException) -> RegistryError | None:
    """The refusal a database (or connection) error stands for; None for a bug."""
    if isinstance(error, (OSError, asyncio.TimeoutError, sa.TimeoutError, sa.DisconnectionError)):
        return Unavailable(UNAVAILABLE, rule="database-unavailable")
    if not isinstance(error, sa.DBAPIError):
        return None
    state = str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or "")
    if (
        error.connection_invalidated
        or state.startswith(_DOWN)
        or isinstance(error, (sa.OperationalError, sa.InterfaceError))
    ):
        return Unavailable(UNAVAILABLE, rule="database-unavailable")
    if isinstance(error, sa.IntegrityError) or state.startswith("23"):
        return Conflict("the change conflicts with the registry's records", rule="constraint")
    if isinstance(error, sa.DataError) or state.startswith("22"):
        return Invalid.at(
            ["body"], "a value the database cannot store (e.g. a NUL character or a number out of range)"
        )
    if isinstance(error.orig, (OSError, asyncio.TimeoutError)):
        return Unavailable(UNAVAILABLE, rule="database-unavailable")
    return None


async def flush_unique(session: AsyncSession, message: str, rule: str) -> None:
    """Flush what the session added; a unique constraint hit is a 409 saying ``message``.

    The rows are expired by a failed flush: read what ``message`` names before calling."""
    try:
        await session.flush()
    except sa.IntegrityError as exc:
        raise Conflict(message, rule=rule) from exc
