"""ASGI middleware refusing request bodies over the limit with 413, chunked ones included."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Limit = Callable[[str], int]  # the limit for a path


class BodyLimit:
    """Refuse a body over ``limit(path)`` bytes with 413 before any route runs."""

    def __init__(self, app: Any, limit: Limit) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
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
                await _too_large(send, limit)
                return
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[Any]]:
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps(
        {"detail": f"request body too large: the limit is {limit} bytes", "rule": "body-limit"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
