"""The endpoints installed modules declare, under ``/modules/<module>/``.

A module's handler is its own code, from its verified package: ``handler(component, request)``
with the component the module runs as, returning a Starlette response or JSON-able data (masked
like every other answer here). Reads are open as the rest of the admin API is; a method that
may change something (anything but GET) needs the admin token.
"""

from __future__ import annotations

import inspect

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.security import HTTPBearer

from framework.admin.auth import require_token
from framework.admin.context import View
from framework.admin.responses import json_response, masked_response
from framework.modules.endpoints import METHODS

router = APIRouter(tags=["modules"])
_BEARER = HTTPBearer(auto_error=False)


@router.get("/modules")
async def installed(app: View) -> Response:
    """The installed modules' endpoints, by module."""
    sync = app.modules
    return json_response({"modules": sync.endpoints.describe() if sync is not None else {}})


@router.api_route("/modules/{module}/{path:path}", methods=list(METHODS), include_in_schema=False)
async def serve(module: str, path: str, request: Request, app: View) -> Response:
    sync = app.modules
    route = sync.endpoints.find(module, request.method, path) if sync is not None else None
    if route is None:
        return json_response({"detail": f"no endpoint {request.method} /{path} of an installed module '{module}'"}, 404)
    if request.method != "GET":
        await require_token(app, await _BEARER(request))
    try:
        component = app.lifecycle.instances[route.component]
    except KeyError:
        return json_response({"detail": f"module '{module}' is not running"}, 503)
    result = route.handler(component, request)
    if inspect.isawaitable(result):
        result = await result
    return result if isinstance(result, Response) else masked_response(app.snapshot, result)
