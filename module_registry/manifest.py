"""A module's manifest: its Pydantic model, parsing from YAML or JSON, and the config-schema check."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jsonschema
import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

NAME = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
# semver 2.0's own expression (semver.org), anchored
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
REFERENCE = r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$"

Name = Annotated[str, StringConstraints(pattern=NAME, max_length=64)]
Semver = Annotated[str, StringConstraints(pattern=SEMVER, max_length=128)]
Reference = Annotated[str, StringConstraints(pattern=REFERENCE, max_length=300)]


class ManifestError(ValueError):
    """Raised when a manifest's text is not a YAML or JSON mapping."""


class DependencySpec(BaseModel):
    """Another module this one needs: its name and a PEP 440 version specifier."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    version: str = Field(default="", max_length=200, description='a PEP 440 specifier like ">=1.0,<2"')
    type: Literal["module"] = "module"

    @field_validator("version")
    @classmethod
    def _specifier(cls, value: str) -> str:
        try:
            SpecifierSet(value)
        except InvalidSpecifier as exc:
            raise ValueError(f"not a version specifier (PEP 440, like '>=1.0,<2'): {value!r}") from exc
        return value


class EndpointSpec(BaseModel):
    """An HTTP endpoint the module serves from an installing app."""

    model_config = ConfigDict(extra="forbid")
    path: Annotated[str, StringConstraints(pattern=r"^/[\w\-./{}]*$", max_length=200)]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    handler: Reference


class Manifest(BaseModel):
    """What a module declares about itself."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    version: Semver
    description: str = Field(default="", max_length=4000)
    author: str = Field(default="", max_length=200)
    dependencies: list[DependencySpec] = Field(default_factory=list, max_length=100)
    entry_points: dict[str, Reference]
    endpoints: list[EndpointSpec] = Field(default_factory=list, max_length=100)
    config_schema: dict[str, Any] = Field(default_factory=dict)

    @field_validator("entry_points")
    @classmethod
    def _main(cls, value: dict[str, str]) -> dict[str, str]:
        if "main" not in value:
            raise ValueError("entry_points.main is required: the module's component class, 'pkg.mod:Class'")
        return value

    @field_validator("config_schema")
    @classmethod
    def _json_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
            raise ValueError(f"not a valid JSON Schema (Draft 2020-12) at {where}: {exc.message}") from exc
        return value

    @property
    def main(self) -> str:
        """The component class, ``pkg.mod:Class``."""
        return self.entry_points["main"]


def parse_text(text: str | bytes) -> Any:
    """The manifest document from YAML or JSON text (JSON is YAML)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError(f"the manifest is neither YAML nor JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ManifestError("the manifest must be a mapping (name, version, entry_points, ...)")
    return document
