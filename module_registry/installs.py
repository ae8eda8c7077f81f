"""Installations: one company's use of one module with its own config, and its reported health.

A member acts for its token's company; an admin may name another. Another company's
installation answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from module_registry import config_check
from module_registry.auth import Principal
from module_registry.catalog import visible_module
from module_registry.db_errors import flush_unique
from module_registry.errors import Conflict, NotFound
from module_registry.records import keep_secrets
from module_registry.resolve import plan
from module_registry.tables import Health, Installation, Module, now

HealthStatus = Literal["healthy", "unhealthy"]


def acting_for(principal: Principal, company_id: str | None) -> Principal:
    """The company a request acts for, seen as a member of it: the token's, or one an admin names."""
    company = company_id if principal.is_admin and company_id else principal.company_id
    return Principal(subject=principal.subject, role="member", company_id=company)


async def create(
    session: AsyncSession,
    principal: Principal,
    module_id: int,
    config: dict[str, Any],
    company_id: str | None,
) -> list[Installation]:
    """Install the module (and its missing dependencies, first) for the company; the root is last."""
    company = acting_for(principal, company_id)
    module = await visible_module(session, company, module_id)
    if module.deleted or module.status != "approved":
        state = "deleted" if module.deleted else module.status
        raise Conflict(
            f"module {module.name} {module.version} is {state}: only approved modules can be installed",
            rule="not-approved",
        )
    config_check.check(config, module.manifest.get("config_schema") or {})
    modules = await plan(session, company, module)
    for dependency in modules[:-1]:
        config_check.check(
            {}, dependency.manifest.get("config_schema") or {}, ("dependencies", dependency.name, "config")
        )
    rows = [_installation(company.company_id, each, config if each is module else {}) for each in modules]
    name = module.name  # a failed flush expires the rows: read what the refusal names first
    session.add_all(rows)
    await flush_unique(session, f"module {name} is already installed for company {company.company_id!r}", "already-installed")
    return rows


def _installation(company_id: str, module: Module, config: dict[str, Any]) -> Installation:
    return Installation(
        company_id=company_id,
        module=module,
        module_name=module.name,
        config=config,
        health=Health(status="unknown", reason="", instance="", reported_at=None),
    )


async def listed(session: AsyncSession, principal: Principal, company_id: str | None) -> list[Installation]:
    """The installations a principal may see: its company's; an admin's, all or one company's."""
    query = select(Installation).order_by(Installation.id)
    if not principal.is_admin:
        query = query.where(Installation.company_id == principal.company_id)
    elif company_id:
        query = query.where(Installation.company_id == company_id)
    return list((await session.scalars(query)).all())


async def visible(session: AsyncSession, principal: Principal, installation_id: int) -> Installation:
    """One installation of the principal's company (any, for an admin); else 404."""
    row = await session.get(Installation, installation_id)
    if row is None or (not principal.is_admin and row.company_id != principal.company_id):
        raise NotFound(f"no installation {installation_id}")
    return row


def update_config(row: Installation, config: dict[str, Any]) -> Installation:
    """Replace the config, checked against the module's schema (a writeOnly ``***`` keeps its value)."""
    schema = row.module.manifest.get("config_schema") or {}
    config = keep_secrets(config, row.config, schema)
    config_check.check(config, schema)
    row.config, row.updated_at = config, now()
    return row


async def remove(session: AsyncSession, row: Installation) -> None:
    """Uninstall; refused (409) while another installation of the company depends on it."""
    others = await listed(session, Principal("registry", "member", row.company_id), None)
    dependents = [
        other.module_name
        for other in others
        if other.id != row.id
        and any(dep["name"] == row.module_name for dep in other.module.manifest.get("dependencies") or [])
    ]
    if dependents:
        raise Conflict(
            f"module {row.module_name} cannot be uninstalled: {', '.join(sorted(dependents))} depend on it",
            rule="has-dependents",
        )
    await session.delete(row)
    await session.flush()


def report_health(row: Installation, status: HealthStatus, reason: str, instance: str) -> bool:
    """Record an app's health report; whether the status or reason changed."""
    health = row.health
    changed = (health.status, health.reason) != (status, reason)
    health.status, health.reason, health.instance, health.reported_at = status, reason, instance, now()
    return changed
