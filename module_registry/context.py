"""What every route is handed: the components it works with, the asker, and after-commit events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from module_registry.auth import Principal, principal
from module_registry.database import Database
from module_registry.errors import Forbidden
from module_registry.packages import PackageStore

if TYPE_CHECKING:
    from loguru import Logger

Publish = Callable[[str, dict[str, Any]], Awaitable[Any]]


@dataclass
class Context:
    """The registry API's view of its app: database, package store, bus, live settings."""

    db: Database
    store: PackageStore
    publish_event: Publish
    settings: Callable[[], Mapping[str, Any]]
    log: Logger

    async def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish events once their transaction committed; a bus failure is logged, not answered."""
        for topic, data in events:
            try:
                await self.publish_event(topic, data)
            except Exception as exc:  # the change is committed: the answer must say so
                self.log.bind(event="registry.publish_failed", topic=topic).warning(
                    f"event {topic} not published: {type(exc).__name__}: {exc}"
                )


def _context(request: Request) -> Context:
    context: Context = request.app.state.registry
    return context


_bearer = HTTPBearer(
    auto_error=False, description="a JWT: python -m module_registry token --role R --company C"
)


def _principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    auth = _context(request).settings()["auth"]
    header = f"Bearer {credentials.credentials}" if credentials else None
    return principal(header, auth["secret"], auth["algorithm"])


def _publisher(asker: Annotated[Principal, Depends(_principal)]) -> Principal:
    if asker.role not in ("admin", "publisher"):
        raise Forbidden("only publishers and admins register modules")
    return asker


def _admin(asker: Annotated[Principal, Depends(_principal)]) -> Principal:
    if not asker.is_admin:
        raise Forbidden("only admins approve or reject modules")
    return asker


Ctx = Annotated[Context, Depends(_context)]
Asker = Annotated[Principal, Depends(_principal)]
Publisher = Annotated[Principal, Depends(_publisher)]
Admin = Annotated[Principal, Depends(_admin)]
