"""``/api/v1/modules``: register, validate, list, read, update, approve or reject, delete, download."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from pydantic import ValidationError

from module_registry import catalog
from module_registry.bodies import ModuleUpdate, StatusChange, Text
from module_registry.context import Admin, Asker, Ctx, Publisher
from module_registry.errors import Invalid, NotFound
from module_registry.events import module_event
from module_registry.manifest import Manifest, ManifestError, parse_text
from module_registry.records import ModulePage, ModuleRecord, ValidationReport, module_record
from module_registry.wheel import check_wheel

router = APIRouter(prefix="/api/v1/modules", tags=["modules"])
ModuleId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_YAML_OR_JSON = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


def manifest_from(document: Any, where: str = "manifest") -> Manifest:
    """A checked manifest, or 422 naming each bad field."""
    if isinstance(document, (str, bytes)):
        try:
            document = parse_text(document)
        except ManifestError as exc:
            raise Invalid.at([where], str(exc)) from exc
    try:
        return Manifest.model_validate(document)
    except ValidationError as exc:
        raise Invalid([([where, *e["loc"]], e["msg"], e["type"]) for e in exc.errors()]) from exc


async def _accept(ctx: Ctx, package: UploadFile, manifest: Manifest) -> catalog.Upload:
    data = await package.read()  # bounded: the body limit counts max_size in for uploads
    ctx.store.check_size(len(data))
    filename = package.filename or ""
    check_wheel(data, filename, manifest, ctx.store.max_size)
    sha256 = await ctx.store.put(data)
    return catalog.Upload(filename=filename, sha256=sha256, size=len(data))


@router.post("/", status_code=201, response_model=ModuleRecord)
async def register(
    ctx: Ctx,
    asker: Publisher,
    manifest: Annotated[Text, Form(description="the manifest, YAML or JSON")],
    visibility: Annotated[Literal["public", "private"], Form()] = "public",
    package: Annotated[UploadFile | None, File(description="the module's pure-Python wheel")] = None,
) -> ModuleRecord:
    """Register a module version (pending approval), with an optional wheel."""
    checked = manifest_from(manifest)
    upload = await _accept(ctx, package, checked) if package is not None else None
    async with ctx.db.sessions.begin() as session:
        row = await catalog.register(session, asker, checked, visibility, upload)
        record, event = module_record(row), module_event(row)
    await ctx.publish([("module.registered", event)])
    return record


@router.post("/validate-manifest", response_model=ValidationReport, openapi_extra=_YAML_OR_JSON)
async def validate_manifest(request: Request, asker: Asker) -> ValidationReport:
    """Check a manifest (YAML or JSON body) without registering it; 422 names each bad field."""
    body = await request.body()
    checked = manifest_from(body.decode("utf-8", "replace"))
    return ValidationReport(valid=True, manifest=checked.model_dump(mode="json"))


@router.get("/", response_model=ModulePage)
async def list_modules(
    ctx: Ctx,
    asker: Asker,
    name: Text | None = None,
    status: Literal["pending", "approved", "rejected"] | None = None,
    visibility: Literal["public", "private"] | None = None,
    author: Text | None = None,
    q: Annotated[
        Text | None, Query(max_length=200, description="text in name, description or author")
    ] = None,
    deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ModulePage:
    """The modules the asker may see, filtered, one page at a time."""
    filters = catalog.Filters(name, status, visibility, author, q, deleted, limit, offset)
    async with ctx.db.sessions.begin() as session:
        rows, total = await catalog.list_modules(session, asker, filters)
        items = [module_record(row) for row in rows]
    return ModulePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{module_id}", response_model=ModuleRecord)
async def read(ctx: Ctx, asker: Asker, module_id: ModuleId) -> ModuleRecord:
    async with ctx.db.sessions.begin() as session:
        return module_record(await catalog.visible_module(session, asker, module_id))


@router.put("/{module_id}", response_model=ModuleRecord)
async def update(ctx: Ctx, asker: Asker, module_id: ModuleId, body: ModuleUpdate) -> ModuleRecord:
    """Change a version that is not approved yet (an approved one is immutable: 409)."""
    async with ctx.db.sessions.begin() as session:
        row = await catalog.owned_module(session, asker, module_id)
        catalog.ensure_mutable(row)
        manifest = manifest_from(body.manifest) if body.manifest is not None else None
        if manifest is not None:
            _same_identity(row.name, row.version, manifest)
            if row.package is not None:
                stored = await ctx.store.get(row.package.sha256)  # accepted once: a smaller limit since spares it
                check_wheel(stored, row.package.filename, manifest, max(ctx.store.max_size, len(stored)))
        catalog.update(row, manifest, body.visibility)
        record, event = module_record(row), module_event(row)
    await ctx.publish([("module.updated", event)])
    return record


def _same_identity(name: str, version: str, manifest: Manifest) -> None:
    if (manifest.name, manifest.version) != (name, version):
        raise Invalid(
            [
                (
                    ["manifest", key],
                    f"must stay {want!r}: another name or version is a new module version",
                    "immutable",
                )
                for key, want, got in (("name", name, manifest.name), ("version", version, manifest.version))
                if want != got
            ]
        )


@router.patch("/{module_id}/status", response_model=ModuleRecord)
async def set_status(ctx: Ctx, asker: Admin, module_id: ModuleId, body: StatusChange) -> ModuleRecord:
    """Approve or reject a module, with a reason. Admins only."""
    async with ctx.db.sessions.begin() as session:
        row = await catalog.visible_module(session, asker, module_id)
        catalog.set_status(row, body.status, body.reason)
        record, event = module_record(row), module_event(row)
    await ctx.publish([(f"module.{body.status}", event)])
    return record


@router.delete("/{module_id}", response_model=ModuleRecord)
async def delete(ctx: Ctx, asker: Asker, module_id: ModuleId) -> ModuleRecord:
    """Soft-delete: the module stays on record, marked deleted, and can no longer be installed."""
    async with ctx.db.sessions.begin() as session:
        row = catalog.soft_delete(await catalog.owned_module(session, asker, module_id))
        record, event = module_record(row), module_event(row)
    await ctx.publish([("module.deleted", event)])
    return record


@router.get(
    "/{module_id}/package",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the wheel"}},
)
async def download(ctx: Ctx, asker: Asker, module_id: ModuleId) -> Response:
    """The module's wheel; its SHA256 in the ``X-Package-SHA256`` header."""
    async with ctx.db.sessions.begin() as session:
        row = await catalog.downloadable_module(session, asker, module_id)
        package = row.package
    if package is None:
        raise NotFound(f"module {module_id} has no package")
    data = await ctx.store.get(package.sha256)
    headers = {
        "X-Package-SHA256": package.sha256,
        "Content-Disposition": f'attachment; filename="{package.filename}"',
    }
    return Response(data, media_type="application/octet-stream", headers=headers)
