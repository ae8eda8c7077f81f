"""Server-Sent Events for the console: the bus's events by topic pattern, and components' states.

A stream watches the events this process publishes (``bus.watch``) for as long as the browser
listens: it is an observer, never a subscriber, so watching creates no mailbox, retries, dead
letters, counters or (on Redis) consumer group, and any number of tabs can watch at once.
It starts with a ``retry:`` hint and gives every event its id; a browser that loses the
connection opens a new one on its own (EventSource) and sends the last id it saw
(``Last-Event-ID``), and the stream first sends what it missed from the bus's recent history.
Every payload is masked.
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
from framework.events.topics import matches, validate_pattern

router = APIRouter(prefix="/ui/stream", include_in_schema=False)
RETRY_MS = 2000  # how long a browser waits before reconnecting
HEARTBEAT = 10.0  # seconds between keep-alive comments while nothing happens
QUEUE = 256  # events held per listener; past it the oldest go
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
    return _stream(request, app, lambda envelope: "bus" if matches(pattern, envelope.type) else None)


@router.get("/states")
async def states(request: Request, app: View) -> Response:
    """Components' state transitions and health changes, as they happen."""
    return _stream(request, app, _state_or_health)


def _state_or_health(envelope: Envelope) -> str | None:
    if envelope.type == "system.health.changed":
        return "health"
    if envelope.type.startswith("system.component.") and isinstance(envelope.data, dict) and "state" in envelope.data:
        return "state"
    return None


def _stream(request: Request, app: AdminView, classify: Classify) -> StreamingResponse:
    body = _tail(request, app, classify, request.headers.get("last-event-id"))
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)


def _missed(app: AdminView, last_id: str | None) -> list[Envelope]:
    """The recent events after ``last_id``; none when it is unknown or already forgotten."""
    if not last_id:
        return []
    recent = app.bus.history()
    ids = [envelope.id for envelope in recent]
    return recent[ids.index(last_id) + 1:] if last_id in ids else []


async def _tail(request: Request, app: AdminView, classify: Classify, last_id: str | None) -> AsyncIterator[str]:
    """The SSE text of what ``classify`` keeps, until the browser goes away."""
    queue: asyncio.Queue[tuple[str, Envelope]] = asyncio.Queue(QUEUE)

    def receive(envelope: Envelope) -> None:
        kind = classify(envelope)
        if kind is None:
            return
        if queue.full():
            queue.get_nowait()
        queue.put_nowait((kind, envelope))

    # The history is read and the watch begun with no await between: nothing falls in a gap.
    for envelope in _missed(app, last_id)[-QUEUE:]:
        receive(envelope)
    stop = app.bus.watch(receive)
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
        stop()
