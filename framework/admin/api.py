"""The admin FastAPI app of one running app, composed from the routers in ``routes``."""

from __future__ import annotations

from fastapi import FastAPI

from framework._version import __version__
from framework.admin.body_limit import BodyLimit
from framework.admin.hosts import TrustedHosts
from framework.admin.metrics import Metrics
from framework.admin.routes import app, config, control, events, health, modules
from framework.admin.types import AdminView
from framework.admin.ui import mount_console

ROUTERS = (app.router, control.router, config.router, events.router, modules.router)


def create_admin_api(view: AdminView, serving: str | None = None) -> FastAPI:
    """The admin API for one running app; handlers reach it through ``context.View``.

    ``serving``: the component that serves it, which it never stops (the answer would be lost).
    """
    api = FastAPI(
        title=f"{view.snapshot.section('app').get('name', 'app')} admin API",
        version=__version__,
        description="Health probes, components, configuration, events and metrics of a running app.",
    )
    api.state.view = view
    api.state.serving = serving
    api.state.metrics = Metrics(view)
    http = view.snapshot.section("http")  # host never reloads; max_body is read per request
    api.add_middleware(BodyLimit, limit=lambda path: int(view.snapshot.section("http").get("max_body", 65536)))
    api.add_middleware(  # the outermost: runs first
        TrustedHosts,
        names=[http.get("host", "127.0.0.1")],
        allowed_hosts=lambda: view.snapshot.section("http").get("allowed_hosts", ()),
    )
    health.add_routes(api)  # the probes first, on the app itself: see there
    for router in ROUTERS:
        api.include_router(router)
    mount_console(api)  # the web console at /ui, behind the same middleware
    return api
