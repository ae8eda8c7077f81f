"""The event bus: recent events, dead letters, and replaying them."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from framework.admin.auth import UNAUTHORIZED, WRITE
from framework.admin.context import View
from framework.admin.responses import json_response, masked_response
from framework.admin.views import dead_letter_row
from framework.events.errors import DeadLetterNotFoundError, InvalidTopicError, ReplayError
from framework.events.topics import matches, validate_pattern

router = APIRouter(tags=["events"])


class DeadLetterReplay(BaseModel):
    """Which dead letter to deliver again; without an id, every replayable one."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, min_length=1, max_length=200)


@router.get("/events/recent")
async def recent_events(
    app: View,
    limit: int = Query(100, ge=1, le=1000),
    topic: str | None = Query(None, max_length=255, description="a topic pattern such as 'market.*'"),
) -> Response:
    """The latest events published on the bus, oldest first."""
    events = app.bus.history()
    if topic is not None:
        try:
            validate_pattern(topic)
        except InvalidTopicError as exc:
            return json_response({"detail": str(exc)}, 422)
        events = [e for e in events if matches(topic, e.type)]
    return masked_response(app.snapshot, [e.to_dict() for e in events[-limit:]])


@router.get("/events/dead-letters")
async def dead_letters(app: View, limit: int = Query(100, ge=1, le=1000)) -> Response:
    """Events that could not be delivered, and why."""
    rows = [dead_letter_row(letter) for letter in await app.bus.dead_letters(limit)]
    return masked_response(app.snapshot, rows)


@router.post(
    "/events/dead-letters/replay",
    dependencies=WRITE,
    responses={
        **UNAUTHORIZED,
        404: {"description": "no such dead letter"},
        409: {"description": "it cannot be replayed"},
    },
)
async def replay(app: View, request: DeadLetterReplay | None = None) -> Response:
    """Deliver one dead letter (by id) or all replayable ones again."""
    if request is None or request.id is None:
        return json_response({"replayed": await app.bus.replay_dead_letters()})
    try:
        await app.bus.replay_dead_letter(request.id)
    except DeadLetterNotFoundError as exc:
        return json_response({"detail": str(exc)}, 404)
    except ReplayError as exc:
        return json_response({"detail": str(exc)}, 409)
    return json_response({"replayed": 1, "id": request.id})


@router.get("/events/partitions")
async def partitions(app: View) -> Response:
    """Per subscription and keyed topic: the partitions this process owns, each one's lag
    (entries not yet acknowledged) and the rebalances so far; [] on the in-memory bus."""
    rows = [
        {
            "subscriber": status.subscriber,
            "topic": status.topic,
            "member": status.member,
            "owned": list(status.owned),
            "lag": {str(partition): count for partition, count in sorted(status.lag.items())},
            "rebalances": status.rebalances,
        }
        for status in await app.bus.partitions()
    ]
    return masked_response(app.snapshot, rows)
