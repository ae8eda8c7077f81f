"""What the API accepts: Pydantic models of request bodies, and the bounded types they use."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not hold a NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
CompanyId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_no_nul)]


class ModuleUpdate(BaseModel):
    """``PUT /api/v1/modules/{id}``: a new manifest (same name and version) and/or visibility."""

    model_config = ConfigDict(extra="forbid")
    manifest: dict[str, Any] | None = None
    visibility: Literal["public", "private"] | None = None


class StatusChange(BaseModel):
    """``PATCH /api/v1/modules/{id}/status``: approve or reject, with a reason."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["approved", "rejected"]
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class InstallRequest(BaseModel):
    """``POST /api/v1/installations/``: which module, its config; an admin may name the company."""

    model_config = ConfigDict(extra="forbid")
    module_id: Id
    config: dict[str, Any] = Field(default_factory=dict)
    company_id: CompanyId | None = None


class ConfigUpdate(BaseModel):
    """``PUT /api/v1/installations/{id}``: the new config (a writeOnly ``***`` keeps its value)."""

    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any]


class HealthCheck(BaseModel):
    """``POST /api/v1/installations/{id}/health-check``: what an app reports."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["healthy", "unhealthy"]
    reason: Annotated[Text, Field(max_length=2000)] = ""
    instance: Annotated[Text, Field(max_length=200)] = ""
