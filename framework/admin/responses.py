"""JSON responses of the admin API; ``masked_response`` replaces every secret value of the running config."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response

from framework.config.snapshot import Snapshot
from framework.secrets import SecretMasker

JSON = "application/json"


def json_response(data: Any, status: int = 200) -> Response:
    """JSON for data that holds no configuration value (probes, counts, errors of a request)."""
    return Response(json.dumps(data, default=str), status_code=status, media_type=JSON)


def masked_response(snapshot: Snapshot, data: Any, status: int = 200) -> Response:
    """JSON with every secret value of ``snapshot`` replaced, wherever it appears."""
    masker = SecretMasker(snapshot.secret_values())
    return Response(masker(json.dumps(data, default=str)), status_code=status, media_type=JSON)
