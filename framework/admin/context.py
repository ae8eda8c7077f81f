"""What a route handler is handed: the running app's view, kept on the FastAPI app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from framework.admin.metrics import Metrics
from framework.admin.types import AdminView


def view_of(request: Request) -> AdminView:
    """The app a request's API serves. The probes call it directly instead of depending on
    ``View``: a dependency is solved anew for every request (about 13 µs, a fifth of a probe's
    cost), and orchestrators call the probes every few seconds for as long as the app runs."""
    view: AdminView = request.app.state.view
    return view


async def _view(request: Request) -> AdminView:
    return view_of(request)


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


View = Annotated[AdminView, Depends(_view)]
"""A handler parameter: the app the API serves."""
AppMetrics = Annotated[Metrics, Depends(_metrics)]
"""A handler parameter: the app's Prometheus registry."""
