"""``/api/v1/installations``: install for a company, list, read, reconfigure, uninstall, report health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from module_registry import installs
from module_registry.bodies import CompanyId, ConfigUpdate, HealthCheck, InstallRequest
from module_registry.context import Asker, Ctx
from module_registry.events import installation_event
from module_registry.records import InstallationRecord, installation_record

router = APIRouter(prefix="/api/v1/installations", tags=["installations"])
InstallationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/", status_code=201, response_model=InstallationRecord)
async def install(ctx: Ctx, asker: Asker, body: InstallRequest) -> InstallationRecord:
    """Install an approved module for the company, its missing dependencies first."""
    async with ctx.db.sessions.begin() as session:
        rows = await installs.create(session, asker, body.module_id, body.config, body.company_id)
        events = [("installation.created", installation_event(row, row.module)) for row in rows]
        record = installation_record(rows[-1])
    await ctx.publish(events)
    return record


@router.get("/", response_model=list[InstallationRecord])
async def list_installations(
    ctx: Ctx, asker: Asker, company_id: Annotated[CompanyId | None, Query(description="admins only")] = None
) -> list[InstallationRecord]:
    """The company's installations (an admin sees all, or those of ``company_id``)."""
    async with ctx.db.sessions.begin() as session:
        return [installation_record(row) for row in await installs.listed(session, asker, company_id)]


@router.get("/{installation_id}", response_model=InstallationRecord)
async def read(ctx: Ctx, asker: Asker, installation_id: InstallationId) -> InstallationRecord:
    async with ctx.db.sessions.begin() as session:
        return installation_record(await installs.visible(session, asker, installation_id))


@router.put("/{installation_id}", response_model=InstallationRecord)
async def reconfigure(
    ctx: Ctx, asker: Asker, installation_id: InstallationId, body: ConfigUpdate
) -> InstallationRecord:
    """Replace the installation's config, checked against the module's config_schema."""
    async with ctx.db.sessions.begin() as session:
        row = installs.update_config(await installs.visible(session, asker, installation_id), body.config)
        record, event = installation_record(row), installation_event(row, row.module)
    await ctx.publish([("installation.config_updated", event)])
    return record


@router.delete("/{installation_id}", response_model=InstallationRecord)
async def uninstall(ctx: Ctx, asker: Asker, installation_id: InstallationId) -> InstallationRecord:
    """Uninstall; refused (409) while another installation of the company depends on it."""
    async with ctx.db.sessions.begin() as session:
        row = await installs.visible(session, asker, installation_id)
        record, event = installation_record(row), installation_event(row, row.module)
        await installs.remove(session, row)
    await ctx.publish([("installation.removed", event)])
    return record


@router.post("/{installation_id}/health-check", response_model=InstallationRecord)
async def health_check(
    ctx: Ctx, asker: Asker, installation_id: InstallationId, body: HealthCheck
) -> InstallationRecord:
    """Record an app's report on the installation; publishes health_changed when it changed."""
    async with ctx.db.sessions.begin() as session:
        row = await installs.visible(session, asker, installation_id)
        changed = installs.report_health(row, body.status, body.reason, body.instance)
        record = installation_record(row)
        event = {**installation_event(row, row.module), "status": body.status, "reason": body.reason}
    await ctx.publish([("installation.health_changed", event)] if changed else [])
    return record
