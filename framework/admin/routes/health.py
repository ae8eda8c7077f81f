"""Health probes: the whole report, liveness and readiness; 503 when a probe fails."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from framework.admin.auth import Responses
from framework.admin.context import View, view_of
from framework.admin.responses import masked_response
from framework.admin.views import probe_view

PROBE: Responses = {503: {"description": "the probe fails; the body says why"}}


async def live(request: Request) -> Response:
    """Liveness: the event loop answers and the health monitor keeps polling."""
    app = view_of(request)
    probe = app.health.liveness()
    return masked_response(app.snapshot, probe_view(probe, "alive", "dead"), 200 if probe.ok else 503)


async def ready(request: Request) -> Response:
    """Readiness: every enabled, non-optional component is running and not unhealthy."""
    app = view_of(request)
    probe = app.health.readiness()
    return masked_response(app.snapshot, probe_view(probe, "ready", "not ready"), 200 if probe.ok else 503)


async def health(app: View) -> Response:
    """Status of the app and of each component, with the recent transitions."""
    report = app.health.report()
    return masked_response(app.snapshot, report, 503 if report["status"] == "unhealthy" else 200)


def add_routes(api: FastAPI) -> None:
    """The health routes, on the app itself and ahead of the other areas' routers.

    Orchestrators call the probes every few seconds for as long as the app runs, so they take the
    shortest path FastAPI has: a route of the app matches directly, where an included router's
    routes are matched through a layer of FastAPI's own on every request (a third of a probe's
    cost), and routes are tried in order. The other areas stay routers.
    """
    for path, endpoint in (("/health/ready", ready), ("/health/live", live), ("/health", health)):
        api.add_api_route(path, endpoint, methods=["GET"], responses=PROBE, tags=["health"])
