"""The console's pages: each a few lines over a function of ``data`` and a template."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from framework.admin.context import View
from framework.admin.ui.data import components_page, config_page, events_page, fleet_page, overview_page
from framework.admin.ui.render import render_page
from framework.admin.views import history_view

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def overview(app: View) -> HTMLResponse:
    return render_page(app, "overview.html", "overview", **overview_page(app))


@router.get("/components", response_class=HTMLResponse)
async def components(app: View) -> HTMLResponse:
    return render_page(app, "components.html", "components", **components_page(app))


@router.get("/config", response_class=HTMLResponse)
async def config(app: View) -> HTMLResponse:
    return render_page(app, "config.html", "config", **config_page(app))


@router.get("/reloads", response_class=HTMLResponse)
async def reloads(app: View) -> HTMLResponse:
    history = history_view(app)
    return render_page(app, "reloads.html", "reloads", version=history["version"],
                       reloads=list(reversed(history["reloads"])))


@router.get("/events", response_class=HTMLResponse)
async def events(app: View) -> HTMLResponse:
    return render_page(app, "events.html", "events", **await events_page(app))


@router.get("/fleet", response_class=HTMLResponse)
async def fleet(app: View) -> HTMLResponse:
    return render_page(app, "fleet.html", "fleet", **await fleet_page(app))
