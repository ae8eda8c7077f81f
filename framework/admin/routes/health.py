"""Health probes: the whole report, liveness and readiness; 503 when a probe fails."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from framework.admin.auth import Responses
from framework.admin.context import View
from framework.admin.responses import masked_response
from framework.admin.views import probe_view

router = APIRouter(tags=["health"])
PROBE: Responses = {503: {"description": "the probe fails; the body says why"}}


@router.get("/health", responses=PROBE)
async def health(app: View) -> Response:
    """Status of the app and of each component, with the recent transitions."""
    report = app.health.report()
    return masked_response(app.snapshot, report, 503 if report["status"] == "unhealthy" else 200)


@router.get("/health/live", responses=PROBE)
async def live(app: View) -> Response:
    """Liveness: the event loop answers and the health monitor keeps polling."""
    probe = app.health.liveness()
    return masked_response(app.snapshot, probe_view(probe, "alive", "dead"), 200 if probe.ok else 503)


@router.get("/health/ready", responses=PROBE)
async def ready(app: View) -> Response:
    """Readiness: every enabled, non-optional component is running and not unhealthy."""
    probe = app.health.readiness()
    return masked_response(app.snapshot, probe_view(probe, "ready", "not ready"), 200 if probe.ok else 503)
