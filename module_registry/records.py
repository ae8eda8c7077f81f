"""What the API answers: Pydantic models of modules and installations, made from rows.

Config values the manifest's ``config_schema`` marks ``"writeOnly": true`` are secrets: they
are masked as ``***`` in every record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from module_registry.tables import Installation, Module

MASK = "***"


class PackageInfo(BaseModel):
    filename: str
    sha256: str
    size: int


class ModuleRecord(BaseModel):
    id: int
    name: str
    version: str
    description: str
    author: str
    status: Literal["pending", "approved", "rejected"]
    status_reason: str | None
    visibility: Literal["public", "private"]
    company_id: str
    deleted: bool
    manifest: dict[str, Any]
    package: PackageInfo | None
    created_at: datetime
    updated_at: datetime


class ModulePage(BaseModel):
    items: list[ModuleRecord]
    total: int
    limit: int
    offset: int


class PackageDigest(BaseModel):
    sha256: str
    size: int


class HealthRecord(BaseModel):
    status: Literal["unknown", "healthy", "unhealthy"]
    reason: str
    instance: str
    reported_at: datetime | None


class InstallationRecord(BaseModel):
    id: int
    company_id: str
    module_id: int
    module: str
    version: str
    entry_point: str
    endpoints: list[dict[str, Any]]
    config: dict[str, Any]
    package: PackageDigest | None
    health: HealthRecord
    created_at: datetime
    updated_at: datetime


class ValidationReport(BaseModel):
    valid: bool
    manifest: dict[str, Any]


def module_record(row: Module) -> ModuleRecord:
    package = row.package
    return ModuleRecord(
        id=row.id,
        name=row.name,
        version=row.version,
        description=row.description,
        author=row.author,
        status=row.status,  # type: ignore[arg-type]
        status_reason=row.status_reason,
        visibility=row.visibility,  # type: ignore[arg-type]
        company_id=row.company_id,
        deleted=row.deleted,
        manifest=row.manifest,
        package=PackageInfo(filename=package.filename, sha256=package.sha256, size=package.size)
        if package
        else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def installation_record(row: Installation) -> InstallationRecord:
    module, health = row.module, row.health
    manifest = module.manifest
    return InstallationRecord(
        id=row.id,
        company_id=row.company_id,
        module_id=row.module_id,
        module=module.name,
        version=module.version,
        entry_point=manifest["entry_points"]["main"],
        endpoints=list(manifest.get("endpoints") or []),
        config=mask(row.config, manifest.get("config_schema") or {}),
        package=PackageDigest(sha256=module.package.sha256, size=module.package.size)
        if module.package
        else None,
        health=HealthRecord(
            status=health.status,  # type: ignore[arg-type]
            reason=health.reason,
            instance=health.instance,
            reported_at=health.reported_at,
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def write_only(schema: Any) -> dict[str, Any]:
    """The schema's properties that are secrets (``True``) or hold secrets (a nested map)."""
    found: dict[str, Any] = {}
    if not isinstance(schema, dict):
        return found
    for key, rules in (schema.get("properties") or {}).items():
        if isinstance(rules, dict) and rules.get("writeOnly") is True:
            found[key] = True
        elif nested := write_only(rules):
            found[key] = nested
    return found


def mask(config: Any, schema: Any) -> dict[str, Any]:
    """``config`` with every writeOnly value replaced by ``***``."""
    masked: dict[str, Any] = _masked(config, write_only(schema))
    return masked


def _masked(config: Any, secrets: dict[str, Any]) -> Any:
    if not isinstance(config, dict):
        return config
    masked: dict[str, Any] = {}
    for key, value in config.items():
        rule = secrets.get(key)
        masked[key] = MASK if rule is True else _masked(value, rule) if rule else value
    return masked


def keep_secrets(new: Any, old: Any, schema: Any) -> Any:
    """``new`` where a writeOnly value sent back as ``***`` keeps the stored ``old`` value."""
    return _kept(new, old, write_only(schema))


def _kept(new: Any, old: Any, secrets: dict[str, Any]) -> Any:
    if not isinstance(new, dict) or not isinstance(old, dict):
        return new
    kept = dict(new)
    for key, rule in secrets.items():
        if rule is True and kept.get(key) == MASK and key in old:
            kept[key] = old[key]
        elif isinstance(rule, dict) and key in kept:
            kept[key] = _kept(kept[key], old.get(key), rule)
    return kept
