"""Runtime control: stop, start or restart a component by name (token-guarded)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from framework.admin.auth import UNAUTHORIZED, WRITE
from framework.admin.context import View
from framework.admin.responses import masked_response
from framework.control import Action, ControlRefusedError, UnknownComponentError

router = APIRouter(tags=["components"])


@router.post(
    "/components/{name}/{action}",
    dependencies=WRITE,
    responses={
        **UNAUTHORIZED,
        404: {"description": "no enabled component has that name"},
        409: {
            "description": "refused (other components would be touched with cascade=false, or the admin"
            " API itself), or a component did not start: the body's outcome is 'failed' and says why"
        },
    },
)
async def control(
    request: Request,
    app: View,
    name: Annotated[str, Path(description="a component name", examples=["feed"])],
    action: Annotated[Action, Path(description="stop, start or restart")],
    cascade: Annotated[bool, Query(description="also stop dependents / start dependencies; false: refuse")] = True,
) -> Response:
    """Stop (dependents first), start (dependencies first) or restart a component; logged and
    published as ``system.component.control``. An operator-stopped component stays stopped: the
    health supervisor does not restart it."""
    try:
        result = await app.control.run(action, name, cascade, keep=request.app.state.serving)
    except UnknownComponentError as exc:
        return masked_response(app.snapshot, {"detail": str(exc)}, 404)
    except ControlRefusedError as exc:
        return masked_response(app.snapshot, {"detail": str(exc)}, 409)
    return masked_response(app.snapshot, result.to_dict(), 200 if result.ok else 409)
