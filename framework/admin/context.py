"""What a route handler is handed: the running app's view, kept on the FastAPI app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from framework.admin.metrics import Metrics
from framework.admin.types import AdminView


async def _view(request: Request) -> AdminView:
    view: AdminView = request.app.state.view
    return view


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


View = Annotated[AdminView, Depends(_view)]
"""A handler parameter: the app the API serves."""
AppMetrics = Annotated[Metrics, Depends(_metrics)]
"""A handler parameter: the app's Prometheus registry."""
