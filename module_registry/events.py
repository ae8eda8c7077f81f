"""The registry's events on the framework bus: topics and payloads (ids, versions, company; never config)."""

from __future__ import annotations

from typing import Any, Protocol

from module_registry.tables import Installation, Module

MODULE_TOPICS = (
    "module.registered",
    "module.approved",
    "module.rejected",
    "module.updated",
    "module.deleted",
)
INSTALLATION_TOPICS = (
    "installation.created",
    "installation.config_updated",
    "installation.removed",
    "installation.health_changed",
)
TOPICS = MODULE_TOPICS + INSTALLATION_TOPICS


class Publish(Protocol):
    """The bus's publish, as the API uses it."""

    async def __call__(self, topic: str, data: dict[str, Any]) -> Any: ...


def module_event(row: Module) -> dict[str, Any]:
    return {
        "module_id": row.id,
        "name": row.name,
        "version": row.version,
        "company_id": row.company_id,
        "status": row.status,
    }


def installation_event(row: Installation, module: Module) -> dict[str, Any]:
    return {
        "installation_id": row.id,
        "module_id": module.id,
        "module": module.name,
        "version": module.version,
        "company_id": row.company_id,
    }
