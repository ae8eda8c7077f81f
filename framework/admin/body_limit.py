"""ASGI middleware refusing request bodies over a limit with 413, before routing: the admin
API's (``http.max_body``), and any FastAPI app a component serves (the module registry's)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp

from framework.admin.responses import JSON


class BodyLimit:
    """Refuse request bodies over ``limit(path)`` bytes with 413, chunked ones included, before
    routing; the answer names the ``setting`` that sets the limit."""

    def __init__(self, app: ASGIApp, limit: Callable[[str], int], setting: str = "http.max_body") -> None:
        self.app, self.limit, self.setting = app, limit, setting

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit, self.setting)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                await _too_large(send, limit, self.setting)
                return
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[Any]]:
    """A ``receive`` that hands over the body read already, then waits as the server's would."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if sent:  # after the body: wait for the disconnect, as the server would tell it
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _too_large(send: Any, limit: int, setting: str) -> None:
    body = json.dumps(
        {"detail": f"request body too large: the limit is {limit} bytes ({setting})", "rule": "body-limit"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
