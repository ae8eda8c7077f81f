"""The running config: values and origins, why a key has its value, reloads past and new."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from framework.admin.auth import UNAUTHORIZED, WRITE
from framework.admin.context import View
from framework.admin.responses import json_response, masked_response
from framework.admin.views import config_view, history_view, reload_view
from framework.config.explain import explain
from framework.errors import UnknownKeyError

router = APIRouter(tags=["config"])
BUSY = "a reload is already in progress; try again when it has finished"


@router.get("/config")
async def config(app: View) -> Response:
    """The running config, secrets masked, with where each value came from."""
    return masked_response(app.snapshot, config_view(app))


@router.get("/config/explain/{key}", responses={404: {"description": "unknown key"}})
async def explain_key(
    app: View, key: str = Path(description="a dotted key", examples=["app.name"])
) -> Response:
    """Why a key has its value: the winning layer and location, what it overrode, reload policy,
    and what the key is for when its schema says (``description``)."""
    try:
        return masked_response(app.snapshot, explain(app.snapshot, key))
    except UnknownKeyError as exc:
        return masked_response(app.snapshot, {"detail": str(exc)}, 404)


@router.get("/config/history")
async def config_history(app: View) -> Response:
    """The reloads so far (applied, rejected, rolled back) and the running version."""
    return masked_response(app.snapshot, history_view(app))


@router.post(
    "/config/reload",
    dependencies=WRITE,
    responses={
        **UNAUTHORIZED,
        409: {"description": "a reload is already in progress, or the app is not running"},
        422: {"description": "the new config is invalid"},
    },
)
async def reload(
    app: View, dry_run: bool = Query(False, description="only compute and return the plan")
) -> Response:
    """Re-read the config and apply the change (or, with dry_run, only say what would change)."""
    if app.reload_in_progress:  # the Reloader's own answer: no lock of ours
        return json_response({"detail": BUSY}, 409)
    try:
        outcome = await app.reload(dry_run=dry_run)
    except RuntimeError as exc:  # not started yet, or stopping
        return masked_response(app.snapshot, {"dry_run": dry_run, "outcome": "refused", "detail": str(exc)}, 409)
    return masked_response(app.snapshot, reload_view(outcome), 200 if outcome.ok else 422)
