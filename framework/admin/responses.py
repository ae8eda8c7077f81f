"""JSON responses of the admin API; ``masked_response`` replaces every secret value of the running config.

Whatever holds configuration, events or text a component wrote (health details, errors, the
reasons of a failed start) is a masked response.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response

from framework.config.snapshot import Snapshot

JSON = "application/json"


def json_response(data: Any, status: int = 200) -> Response:
    """JSON for data that holds no configuration value (versions, counts, errors of a request)."""
    return Response(json.dumps(data, default=str), status_code=status, media_type=JSON)


def masked_response(snapshot: Snapshot, data: Any, status: int = 200) -> Response:
    """JSON with every secret value of ``snapshot`` replaced, wherever and however escaped it appears."""
    body = snapshot.masker.dumps(data)
    return Response(body, status_code=status, media_type=JSON)
