"""Bearer-token authorization for the endpoints that change the app.

The token is the running config's ``http.token`` (a secret). Which variable fills it is the
app's own business: its YAML says so (``token: ${oc.env:...}``), or its env prefix does. It is
compared byte for byte: the header's bytes (which Starlette hands over decoded as latin-1)
against the token's UTF-8 bytes, so a non-ASCII token works for a client that sends it in UTF-8.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from framework.admin.context import View

TOKEN_KEY = "http.token"
Responses = dict[int | str, dict[str, Any]]
Credentials = Annotated[
    HTTPAuthorizationCredentials | None,
    Depends(HTTPBearer(auto_error=False, description=f"the value of {TOKEN_KEY}")),
]


async def require_token(app: View, credentials: Credentials) -> None:
    """403 when no token is configured, 401 when the request's is missing or wrong."""
    token = app.snapshot.section("http").get("token")
    if not token:
        raise HTTPException(
            403, f"writes are disabled: no admin token is configured; set {TOKEN_KEY} to enable them"
        )
    if credentials is None:
        raise HTTPException(
            401,
            f"missing bearer token: send 'Authorization: Bearer <{TOKEN_KEY}>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.credentials.encode("latin-1"), str(token).encode()):
        raise HTTPException(
            401, f"wrong bearer token (it must equal {TOKEN_KEY})", headers={"WWW-Authenticate": "Bearer"}
        )


WRITE = [Depends(require_token)]
"""The dependencies of an endpoint that changes the app."""
UNAUTHORIZED: Responses = {
    401: {"description": "missing or wrong bearer token"},
    403: {"description": "writes disabled: no token configured"},
}
"""The answers such an endpoint documents besides its own."""
