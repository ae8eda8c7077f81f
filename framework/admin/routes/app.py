"""The app as a whole: what runs (info, components) and its Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from framework.admin.context import AppMetrics, View
from framework.admin.responses import json_response, masked_response
from framework.admin.views import component_rows, info_view
from framework.asyncapi import asyncapi_document

router = APIRouter(tags=["app"])


@router.get("/info")
async def info(app: View) -> Response:
    """App name and version, framework version, uptime and config version."""
    return json_response(info_view(app))


@router.get("/components")
async def components(app: View) -> Response:
    """Every component entry: state, version, dependencies, health (secrets masked)."""
    return masked_response(app.snapshot, component_rows(app))


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus(metrics: AppMetrics) -> Response:
    """Prometheus text format: events, handler errors, partitions, reloads, health, breakers."""
    return Response(await metrics.render(), media_type=metrics.content_type)


@router.get("/asyncapi.json")
async def asyncapi(app: View) -> Response:
    """The running config's events as an AsyncAPI 3.0 document (``integrate asyncapi``)."""
    return masked_response(app.snapshot, asyncapi_document(app.snapshot, app.assembly))


@router.get("/fleet")
async def fleet(app: View) -> Response:
    """Every live instance of this app's fleet, its overlay version and digest, and drift."""
    member = app.fleet
    if member is None:
        return json_response({"detail": "this app is not part of a fleet (fleet.enabled is false)"}, 404)
    try:
        view = await member.view()
    except ConnectionError as exc:  # the fleet's Redis is out of reach
        return json_response({"detail": str(exc)}, 503)
    return masked_response(app.snapshot, view)
