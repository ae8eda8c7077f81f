"""Server-Sent Events for the console: the bus's events by topic pattern, and components' states.

Each stream is a subscription on the app's bus for as long as the browser listens, cancelled
when it goes. It starts with a ``retry:`` hint; a browser that loses the connection opens a
new one on its own (EventSource), which simply subscribes again. Every payload is masked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from framework.admin.context import View
from framework.admin.responses import json_response
from framework.admin.types import AdminView
from framework.events.envelope import Envelope
from framework.events.errors import InvalidTopicError
from framework.events.topics import validate_pattern

router = APIRouter(prefix="/ui/stream", include_in_schema=False)
RETRY_MS = 2000  # how long a browser waits before reconnecting
HEARTBEAT = 10.0  # seconds between keep-alive comments while nothing happens
QUEUE = 256  # events held per listener; past it the oldest go
SUBSCRIBER = "console"  # one name for every listener: one set of counters in /metrics
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
Classify = Callable[[Envelope], str | None]


@router.get("/events")
async def events(
    request: Request, app: View, pattern: str = Query("**", max_length=255, description="a topic pattern")
) -> Response:
    """Every event whose topic matches ``pattern``, as it is published."""
    try:
        validate_pattern(pattern)
    except InvalidTopicError as exc:
        return json_response({"detail": str(exc)}, 422)
    return _stream(request, app, pattern, lambda envelope: "bus")


@router.get("/states")
async def states(request: Request, app: View) -> Response:
    """Components' state transitions and health changes, as they happen."""
    return _stream(request, app, "system.**", _state_or_health)


def _state_or_health(envelope: Envelope) -> str | None:
    if envelope.type == "system.health.changed":
        return "health"
    if envelope.type.startswith("system.component.") and isinstance(envelope.data, dict) and "state" in envelope.data:
        return "state"
    return None


def _stream(request: Request, app: AdminView, pattern: str, classify: Classify) -> StreamingResponse:
    body = _tail(request, app, pattern, classify)
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)


async def _tail(request: Request, app: AdminView, pattern: str, classify: Classify) -> AsyncIterator[str]:
    """The SSE text of a subscription to ``pattern``, until the browser goes away."""
    queue: asyncio.Queue[tuple[str, Envelope]] = asyncio.Queue(QUEUE)

    async def receive(envelope: Envelope) -> None:
        kind = classify(envelope)
        if kind is None:
            return
        if queue.full():
            queue.get_nowait()
        queue.put_nowait((kind, envelope))

    subscription = await app.bus.subscribe(  # never blocks, retries nor dead-letters, whatever the bus settings
        pattern, receive, subscriber=SUBSCRIBER, queue_size=QUEUE, overflow="drop_oldest", max_retries=0
    )
    try:
        yield f"retry: {RETRY_MS}\n\n"
        while not await request.is_disconnected():
            try:
                kind, envelope = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            data = app.snapshot.masker.dumps(envelope.to_dict())  # one line: JSON escapes newlines
            yield f"id: {envelope.id}\nevent: {kind}\ndata: {data}\n\n"
    finally:
        subscription.cancel()
