"""Modules: register, look up, list with filters, update, approve or reject, soft-delete.

Who sees a module: admins all; a company its own; everyone else the approved, public,
non-deleted ones. A module the asker may not see answers 404, as if it did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from module_registry.auth import Principal
from module_registry.db_errors import flush_unique
from module_registry.errors import Conflict, Forbidden, NotFound
from module_registry.manifest import Manifest
from module_registry.tables import Installation, Module, Package, now

Visibility = Literal["public", "private"]


@dataclass(frozen=True)
class Filters:
    """The filters and page of ``GET /api/v1/modules/``."""

    name: str | None = None
    status: str | None = None
    visibility: str | None = None
    author: str | None = None
    q: str | None = None
    deleted: bool = False
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Upload:
    """An accepted wheel: its file name, SHA256 and size."""

    filename: str
    sha256: str
    size: int


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """The modules ``principal`` may see."""
    if principal.is_admin:
        return true()
    return or_(
        Module.company_id == principal.company_id,
        and_(Module.visibility == "public", Module.status == "approved", Module.deleted == false()),
    )


def _conditions(principal: Principal, filters: Filters) -> list[ColumnElement[bool]]:
    conditions = [visible_to(principal), Module.deleted == (true() if filters.deleted else false())]
    for column, value in (
        (Module.name, filters.name),
        (Module.status, filters.status),
        (Module.visibility, filters.visibility),
        (Module.author, filters.author),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.q:
        text = filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{text}%"  # the text as written: % and _ match themselves
        conditions.append(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (Module.name, Module.description, Module.author)
                )
            )
        )
    return conditions


async def list_modules(
    session: AsyncSession, principal: Principal, filters: Filters
) -> tuple[list[Module], int]:
    """One page of the modules ``principal`` sees that match ``filters``, and how many match."""
    conditions = _conditions(principal, filters)
    total = await session.scalar(select(func.count()).select_from(Module).where(*conditions))
    query = (
        select(Module)
        .where(*conditions)
        .order_by(Module.name, Module.id)
        .limit(filters.limit)
        .offset(filters.offset)
    )
    rows = (await session.scalars(query)).all()
    return list(rows), int(total or 0)


async def visible_module(session: AsyncSession, principal: Principal, module_id: int) -> Module:
    """The module, if ``principal`` may see it (deleted ones only by their company and admins)."""
    row = await session.scalar(select(Module).where(Module.id == module_id, visible_to(principal)))
    if row is None:
        raise NotFound(f"no module {module_id}")
    return row


async def downloadable_module(session: AsyncSession, principal: Principal, module_id: int) -> Module:
    """A module whose package ``principal`` may fetch: one it sees, or one its company has installed
    (a module deleted or made private later still reaches the apps already running it)."""
    installed = select(Installation.id).where(
        Installation.module_id == module_id, Installation.company_id == principal.company_id
    )
    row = await session.scalar(
        select(Module).where(Module.id == module_id, or_(visible_to(principal), installed.exists()))
    )
    if row is None:
        raise NotFound(f"no module {module_id}")
    return row


async def owned_module(session: AsyncSession, principal: Principal, module_id: int) -> Module:
    """The module, if ``principal`` may change it: an admin, or a publisher of its company."""
    row = await visible_module(session, principal, module_id)
    if not principal.is_admin and (principal.role != "publisher" or row.company_id != principal.company_id):
        raise Forbidden(
            f"only admins and publishers of company {row.company_id!r} may change module {module_id}"
        )
    if row.deleted:
        raise Conflict(f"module {module_id} is deleted")
    return row


async def register(
    session: AsyncSession,
    principal: Principal,
    manifest: Manifest,
    visibility: Visibility,
    upload: Upload | None,
) -> Module:
    """Record a new module version, pending approval; 409 when that name and version exist."""
    row = Module(
        name=manifest.name,
        version=manifest.version,
        description=manifest.description,
        author=manifest.author,
        status="pending",
        visibility=visibility,
        company_id=principal.company_id,
        deleted=False,
        manifest=manifest.model_dump(mode="json"),
    )
    if upload is not None:
        row.package = Package(filename=upload.filename, sha256=upload.sha256, size=upload.size)
    session.add(row)
    message = f"module {manifest.name} {manifest.version} is already registered: publish a new version"
    await flush_unique(session, message, "duplicate-version")
    return row


def ensure_mutable(row: Module) -> None:
    """Refuse changing an approved version (409): a change is a new version."""
    if row.status == "approved":
        raise Conflict(
            f"module {row.name} {row.version} is approved and immutable: publish a new version instead",
            rule="immutable-version",
        )


def update(row: Module, manifest: Manifest | None, visibility: Visibility | None) -> Module:
    """Apply a PUT to a module that is not approved; a rejected one goes back to pending."""
    ensure_mutable(row)
    if manifest is not None:
        row.manifest = manifest.model_dump(mode="json")
        row.description, row.author = manifest.description, manifest.author
    if visibility is not None:
        row.visibility = visibility
    row.status, row.status_reason, row.updated_at = "pending", None, now()
    return row


def set_status(row: Module, status: Literal["approved", "rejected"], reason: str) -> Module:
    """Approve or reject a module, with a reason (its content stays as it is)."""
    row.status, row.status_reason, row.updated_at = status, reason, now()
    return row


def soft_delete(row: Module) -> Module:
    row.deleted, row.updated_at = True, now()
    return row
